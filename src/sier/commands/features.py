import argparse

HELP = "compute and cache the frozen upstream features of a manifest (resumable), or show the cache"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--manifest", nargs="+", default=["data/manifest.csv"],
                   help="manifest(s) written by `sier prepare`; several are pooled")
    p.add_argument("--upstream", default="facebook/hubert-base-ls960",
                   help="HF hub id, local folder written by save_pretrained, or 'fbank'")
    p.add_argument("--revision", default=None, help="hub revision (branch, tag or commit)")
    p.add_argument("--freeze_layers", type=int, default=None,
                   help="cache transformer layers 1..N (default: the whole upstream is frozen)")
    p.add_argument("--layer", type=int, default=None, help="whole upstream frozen: hidden state to keep (default last)")
    p.add_argument("--layer_weighted", action="store_true",
                   help="whole upstream frozen: cache every hidden state for a learned weighted sum")
    p.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"],
                   help="extraction precision (bfloat16: faster on CPU, small numeric differences)")
    p.add_argument("--cache_dir", default="cache", help="where features are stored")
    p.add_argument("--rank", type=int, default=0, help="this process's share: utterances i with i %% world_size == rank")
    p.add_argument("--world_size", type=int, default=1, help="number of processes sharing the extraction")
    p.add_argument("--device", default=None, help="torch device (default: CUDA when available, else CPU)")
    p.add_argument("--batch_s", type=float, default=None,
                   help="padded audio seconds per batch of the upstream's transformer layers "
                        "(default 60; 0: one file at a time)")
    p.add_argument("--no_progress", action="store_true", help="no progress bar")
    p.add_argument("--status", action="store_true", help="only show what the cache holds and how large it is")


def run(args: argparse.Namespace) -> int:
    from sier.corpora.records import read_manifests
    from sier.features import FeatureConfig, extract_features, status
    from sier.features.extract import EXTRACT_BATCH_S

    if args.status:
        entries = status(args.cache_dir)
        for entry in entries:
            print(entry.line())
        total = sum(e.bytes for e in entries) / 2**20
        count = sum(e.entries for e in entries)
        print(f"{len(entries)} feature set(s), {count} entries, {total:.1f} MiB in {args.cache_dir}")
        return 0
    cfg = FeatureConfig(upstream=args.upstream, revision=args.revision, freeze_layers=args.freeze_layers,
                        layer=args.layer, layer_weighted=args.layer_weighted, dtype=args.dtype)
    utterances = read_manifests(args.manifest)
    store = extract_features(utterances, cfg, args.cache_dir, progress=not args.no_progress,
                             rank=args.rank, world_size=args.world_size, device=args.device,
                             batch_s=EXTRACT_BATCH_S if args.batch_s is None else args.batch_s)
    print(f"{len(store.ids)}/{len(store)} utterances cached in {store.directory}")
    if store.skipped and store.skipped.skipped:
        print(store.skipped.summary())
    return 0
