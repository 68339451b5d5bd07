"""Both directions of a bidirectional GRU layer in one recurrence, for training on CPU.

torch's CPU GRU (`torch.gru`) runs each direction on its own and leaves its backward pass
to autograd: per time step and direction about ten small operators forward and twenty
backward, plus a weight-gradient product each, at 5-50 us apiece. Training the enhanced
model's two GRU layers took about 0.19 s per layer of a 0.54 s step. This recurrence

- runs the forward and the (reversed) backward direction as one batch of two, so each step
  is one batched product and a handful of element-wise operators for both;
- keeps the hidden state as `[2, H, B]`, so the per-step product is `W_hh @ h` with a
  small last dimension, which MKL runs about twice as fast as `h @ W_hh^T`;
- has its own backward: the per-step factors are computed for all steps at once before the
  loop, the loop carries only the hidden-state gradient, and the weight gradient is one
  product over all steps after it.

It is the same function as `torch.gru` (tested against it in float64, values and
gradients). The caller computes the input projections (one large product, autograd as
usual) and handles lengths and dropout. GPUs keep cuDNN and exports keep `torch.gru`.
"""

from __future__ import annotations

import torch
from torch import Tensor


class BiGRURecurrence(torch.autograd.Function):
    """gi [T, 2, 3H, B]: input projections W_ih x_t + b_ih of both directions, gates in
    torch's order (r, z, n); w_hh [2, 3H, H]; b_hh [2, 3H, 1] -> h [T, 2, H, B], h_0 = 0."""

    @staticmethod
    @torch.amp.custom_fwd(device_type="cpu", cast_inputs=torch.float32)  # bf16 autocast: runs in fp32
    def forward(ctx, gi: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:  # type: ignore[override]
        steps, dirs, gates, batch = gi.shape
        hidden = gates // 3
        out = gi.new_empty(steps, dirs, hidden, batch)
        # per step: W_hh h + b_hh, whose r and z parts are then overwritten by the gates
        # themselves (only the n part of W_hh h is needed again, in backward)
        gh = gi.new_empty(steps, dirs, gates, batch)
        n = gi.new_empty(steps, dirs, hidden, batch)
        gi_rz, gi_n = gi[:, :, : 2 * hidden].unbind(0), gi[:, :, 2 * hidden :].unbind(0)
        gh_all, rz = gh.unbind(0), gh[:, :, : 2 * hidden].unbind(0)
        r, z, gh_n = (gh[:, :, i * hidden : (i + 1) * hidden].unbind(0) for i in range(3))
        outs, ns = out.unbind(0), n.unbind(0)
        h = gi.new_zeros(dirs, hidden, batch)
        bias = b_hh.expand(-1, -1, batch).contiguous()  # baddbmm copies a broadcast bias ~20x slower
        for t in range(steps):
            torch.baddbmm(bias, w_hh, h, out=gh_all[t])
            rz[t].add_(gi_rz[t]).sigmoid_()
            torch.addcmul(gi_n[t], r[t], gh_n[t], out=ns[t]).tanh_()
            h = torch.lerp(ns[t], h, z[t], out=outs[t])  # h' = n + z (h - n)
        ctx.save_for_backward(w_hh, out, gh, n)
        return out

    @staticmethod
    @torch.amp.custom_bwd(device_type="cpu")
    def backward(ctx, grad_out: Tensor) -> tuple[Tensor, Tensor, Tensor]:  # type: ignore[override]
        w_hh, out, gh, n = ctx.saved_tensors
        steps, dirs, hidden, batch = out.shape
        grad_out = grad_out.contiguous()  # arrives permuted; each step reads one [2, H, B] slice
        h_prev = torch.cat([out.new_zeros(1, dirs, hidden, batch), out[:-1]], 0)
        r, z, gh_n = gh[:, :, :hidden], gh[:, :, hidden : 2 * hidden], gh[:, :, 2 * hidden :]
        # d(pre-activation) / d(h_t), split by path, for every step at once
        to_n = ((1 - z) * (1 - n * n)).unbind(0)
        n_to_r = (r * (1 - r) * gh_n).unbind(0)
        to_z = (z * (1 - z) * (h_prev - n)).unbind(0)
        r_t, z_t = r.unbind(0), z.unbind(0)
        d_gh = out.new_empty(steps, dirs, 3 * hidden, batch)  # gradient of W_hh h + b_hh
        d_n = out.new_empty(steps, dirs, hidden, batch)  # gradient of the n gate's input part
        d_gh_all = d_gh.unbind(0)
        d_r, d_z, d_ghn = (d_gh[:, :, i * hidden : (i + 1) * hidden].unbind(0) for i in range(3))
        d_ns, grads = d_n.unbind(0), grad_out.unbind(0)
        w_t = w_hh.transpose(1, 2).contiguous()  # [2, H, 3H]
        dh = grads[steps - 1]
        for t in range(steps - 1, -1, -1):
            if t < steps - 1:
                dh = torch.baddbmm(grads[t], w_t, d_gh_all[t + 1]).addcmul_(dh, z_t[t + 1])
            torch.mul(dh, to_n[t], out=d_ns[t])
            torch.mul(d_ns[t], r_t[t], out=d_ghn[t])
            torch.mul(d_ns[t], n_to_r[t], out=d_r[t])
            torch.mul(dh, to_z[t], out=d_z[t])
        d_gi = torch.cat([d_gh[:, :, : 2 * hidden], d_n], 2)
        d_w = torch.bmm(
            d_gh.permute(1, 2, 0, 3).reshape(dirs, 3 * hidden, steps * batch),
            h_prev.permute(1, 0, 3, 2).reshape(dirs, steps * batch, hidden),
        )
        d_b = d_gh.sum(dim=(0, 3)).unsqueeze(-1)
        return d_gi, d_w, d_b


def bigru_layer(x: Tensor, x_reversed: Tensor, forward_weights: list[Tensor],
                backward_weights: list[Tensor]) -> tuple[Tensor, Tensor]:
    """One bidirectional GRU layer from h_0 = 0: x and its per-sequence reversal [B, T, D],
    each direction's (weight_ih, weight_hh, bias_ih, bias_hh) -> the two directions'
    outputs [B, T, H] each, the second still in reversed time."""
    gi = torch.stack(
        [
            torch.nn.functional.linear(seq, w[0], w[2]).permute(1, 2, 0)  # [T, 3H, B]
            for seq, w in ((x, forward_weights), (x_reversed, backward_weights))
        ],
        dim=1,
    )
    w_hh = torch.stack([forward_weights[1], backward_weights[1]])
    b_hh = torch.stack([forward_weights[3], backward_weights[3]]).unsqueeze(-1)
    h = BiGRURecurrence.apply(gi, w_hh, b_hh)  # [T, 2, H, B]
    return h[:, 0].permute(2, 0, 1), h[:, 1].permute(2, 0, 1)
