import argparse

HELP = "export a model to ONNX (classifier on features, or --whole with its upstream), optionally int8"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--model", required=True, help="sier checkpoint (.pth)")
    p.add_argument("--format", default="onnx", choices=["onnx"], help="export format")
    p.add_argument("--out", required=True, help="ONNX file to write (int8 goes to <stem>.int8.onnx next to it)")
    p.add_argument("--whole", action="store_true",
                   help="export waveform -> logits, upstream included (fbank: only the network is exported)")
    p.add_argument("--quantize", default=None, choices=["int8"], help="also write a dynamic int8 model")
    p.add_argument("--no_check", action="store_true", help="skip the parity check against PyTorch")


def run(args: argparse.Namespace) -> int:
    from sier.inference.export import export_model

    result = export_model(args.model, args.out, whole=args.whole, quantize=args.quantize, check=not args.no_check)
    print(f"{result.kind} graph -> {result.onnx_path}")
    if result.parity:
        print(f"  fp32 vs torch: {result.parity.summary()}")
    if result.int8_path:
        print(f"int8 -> {result.int8_path}")
        if result.int8_parity:
            print(f"  int8 vs torch: {result.int8_parity.summary()}")
    for note in result.notes:
        print(f"note: {note}")
    return 0
