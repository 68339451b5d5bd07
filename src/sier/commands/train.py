"""`sier train` (and `train_enhanced.py`): cross-validated training of the emotion model.

Precedence: TrainConfig defaults < --config YAML < flags given on the command line (flags
are parsed with default=SUPPRESS, so only those the user typed override).
"""

import argparse

HELP = "train the emotion model on every speaker-independent fold (cross-validation)"
SUPPRESS = argparse.SUPPRESS  # unset flags stay out of the namespace, so config files and defaults apply


def _bool_pair(p: argparse.ArgumentParser, name: str, help_on: str, help_off: str) -> None:
    p.add_argument(f"--{name}", dest=name, action="store_true", default=SUPPRESS, help=help_on)
    p.add_argument(f"--no_{name}", dest=name, action="store_false", default=SUPPRESS, help=help_off)


def add_arguments(p: argparse.ArgumentParser) -> None:
    _run_arguments(p.add_argument_group("run"))
    _data_arguments(p.add_argument_group("data"))
    _feature_arguments(p.add_argument_group("features"))
    _model_arguments(p.add_argument_group("model"))
    _distill_arguments(p.add_argument_group("distillation (model compression)"))
    _optimisation_arguments(p.add_argument_group("optimisation"))
    _augment_arguments(p.add_argument_group("augmentation"))
    _hardware_arguments(p.add_argument_group("hardware"))


def _run_arguments(g) -> None:
    g.add_argument("--config", default=SUPPRESS, help="YAML file of TrainConfig fields; flags given here override it")
    g.add_argument("--resume", metavar="EXPERIMENT_DIR", default=SUPPRESS,
                   help="continue an experiment: finished folds are skipped, an interrupted one resumes")
    g.add_argument("--name", default=SUPPRESS, help="experiment name (default: train)")
    g.add_argument("--output_dir", default=SUPPRESS, help="where experiment directories go (default: experiments/)")
    g.add_argument("--seed", type=int, default=SUPPRESS, help="random seed (default: 0)")
    g.add_argument("--seeds", default=SUPPRESS, metavar="0,1,2",
                   help="repetitions: one experiment per seed (<name>_s<seed>_<stamp>), to evaluate together "
                        "(mean ± std over seeds)")


def _data_arguments(g) -> None:
    from sier.corpora.labels import DEFAULT_LABEL_MAPS, LABEL_MAPS
    from sier.corpora.registry import corpus_help
    from sier.splits import PROTOCOLS

    g.add_argument("--corpus", choices=list(DEFAULT_LABEL_MAPS), default=SUPPRESS,
                   help=f"layout of --corpus_root (default: iemocap): {corpus_help()}")
    g.add_argument("--corpus_root", default=SUPPRESS, help="corpus tree: IEMOCAP_full_release (or its parent), ...")
    g.add_argument("--manifest", nargs="+", default=SUPPRESS,
                   help="manifest CSV(s) from `sier prepare` (instead of --corpus_root); several are pooled, "
                        "e.g. one per corpus")
    g.add_argument("--label_map", default=SUPPRESS,
                   help="default: the corpus's 4 classes (iemocap-4, emodb-4, ...: neu, hap, ang, sad); also "
                        + ", ".join(n for n in LABEL_MAPS if n not in DEFAULT_LABEL_MAPS.values()))
    g.add_argument("--subset", default=SUPPRESS, metavar="NAME[,NAME]",
                   help="keep some recordings only: iemocap and thaiser improvised or scripted; mspimprov read, "
                        "improvised, natural (default: all)")
    g.add_argument("--protocol", choices=list(PROTOCOLS), default=SUPPRESS,
                   help="session: leave one session (EmoDB, RAVDESS, ...: speaker group) out (default; 5 folds on "
                        "IEMOCAP); speaker: leave one speaker out (10 folds on IEMOCAP); corpus: leave one corpus out "
                        "(--manifest of 3+ corpora); official: MSP-Podcast's own partitions (one fold)")
    g.add_argument("--folds", default=SUPPRESS, help="run only these folds, e.g. 0,2 (default: all)")


def _feature_arguments(g) -> None:
    g.add_argument("--upstream", default=SUPPRESS, help="HF hub id, local folder, or fbank (default: facebook/hubert-base-ls960)")
    g.add_argument("--revision", default=SUPPRESS, help="hub revision of the upstream")
    g.add_argument("--freeze_layers", type=int, default=SUPPRESS,
                   help="upstream layers frozen and cached; the layers above them are fine-tuned (default: all frozen)")
    g.add_argument("--layer", type=int, default=SUPPRESS, help="frozen upstream: hidden state to use (default: last)")
    g.add_argument("--layer_weighted", action="store_true", default=SUPPRESS, help="learned weighted sum of all layers")
    g.add_argument("--feature_dtype", choices=["float32", "bfloat16"], default=SUPPRESS, help="extraction precision")
    g.add_argument("--cache_dir", default=SUPPRESS, help="feature cache (default: cache/)")
    g.add_argument("--speaker_norm", action="store_true", default=SUPPRESS,
                   help="standardise every speaker's features with the statistics of all their utterances (test "
                        "speakers: their own unlabelled test utterances); the classic baseline to AdaIN. Frozen "
                        "upstream or fbank only; such models cannot be used by predict/stream/serve")


def _model_arguments(g) -> None:
    g.add_argument("--model", choices=["baseline", "enhanced"], default=SUPPRESS, help="default: enhanced")
    g.add_argument("--hidden_layer", "--hidden_size", dest="hidden_size", type=int, default=SUPPRESS,
                   help="GRU hidden size per direction (default: 128)")
    g.add_argument("--num_gru_layers", type=int, default=SUPPRESS, help="stacked GRU layers (default: 2)")
    g.add_argument("--dropout", type=float, default=SUPPRESS, help="default: 0.3")
    g.add_argument("--attention_dropout", type=float, default=SUPPRESS,
                   help="dropout on the attention probabilities (default: 0.3; 0 trains faster on CPU)")
    _bool_pair(g, "adain", "use AdaIN (default)", "ablation: no AdaIN")
    g.add_argument("--adain_style_rank", type=int, default=SUPPRESS,
                   help="rank of the AdaIN affine predicted from the utterance statistics; 0 = fixed affine (default: 0)")
    _bool_pair(g, "attention", "use self-attention (default)", "ablation: no self-attention")
    _bool_pair(g, "residual", "residual GRU connections (default)", "ablation: no residual connections")
    g.add_argument("--num_heads", type=int, default=SUPPRESS, help="attention heads (default: 8)")
    g.add_argument("--pooling", choices=["mean_max", "mean_attn"], default=SUPPRESS, help="default: mean_max")
    g.add_argument("--speaker_adversarial", action="store_true", default=SUPPRESS,
                   help="add a speaker classifier behind gradient reversal")
    g.add_argument("--adversarial_weight", type=float, default=SUPPRESS, help="speaker loss weight (default: 0.1)")
    g.add_argument("--adversarial_gamma", type=float, default=SUPPRESS, help="alpha schedule steepness (default: 10)")
    g.add_argument("--dimension_weight", type=float, default=SUPPRESS,
                   help="> 0: also predict arousal, valence and dominance (IEMOCAP, MSP-IMPROV, MSP-Podcast rate them) "
                        "with loss weight x (1 - CCC); the report adds their CCC (default: 0, off)")
    g.add_argument("--task", choices=["classes", "dimensions"], default=SUPPRESS,
                   help="classes (default): the emotion classes, with the dimensions as an auxiliary task where "
                        "--dimension_weight > 0; dimensions: arousal, valence and dominance only, on every rated "
                        "utterance (implies --all_rated, --dimension_weight 1 unless given, --monitor val_ccc); no "
                        "class is learned, predicted or reported")
    g.add_argument("--all_rated", action="store_true", default=SUPPRESS,
                   help="with --dimension_weight: also train and test the dimensions on the rated utterances whose "
                        "label is not a class (IEMOCAP: all 10039; a manifest from `sier prepare --all_rated`); the "
                        "class loss and every class metric leave them out")


def _distill_arguments(g) -> None:
    g.add_argument("--teacher", default=SUPPRESS, metavar="EXPERIMENT_DIR",
                   help="a trained experiment on the same data and folds: each fold's student also learns from that "
                        "fold's teacher model (e.g. a small fbank baseline from a HuBERT enhanced model)")
    g.add_argument("--distill_weight", type=float, default=SUPPRESS,
                   help="loss = (1 - w) CE + w T^2 KL(teacher || student) (default: 0.5)")
    g.add_argument("--distill_temperature", type=float, default=SUPPRESS, help="T, softens both distributions (default: 2)")


def _optimisation_arguments(g) -> None:
    g.add_argument("--epochs", type=int, default=SUPPRESS, help="maximum epochs per fold (default: 50)")
    g.add_argument("--batch_size", type=int, default=SUPPRESS, help="default: 16")
    g.add_argument("--lr", type=float, default=SUPPRESS, help="base learning rate (default: 1e-4)")
    g.add_argument("--upstream_dropout", choices=["finetune", "pretrained"], default=SUPPRESS,
                   help="dropouts of the fine-tuned upstream layers: the HuBERT fine-tuning recipe "
                        "(hidden 0, attention 0, activation 0.1) or the upstream config's own (default: finetune)")
    g.add_argument("--weight_decay", type=float, default=SUPPRESS, help="AdamW weight decay (default: 0.01)")
    g.add_argument("--warmup_epochs", type=float, default=SUPPRESS, help="linear warm-up (default: 1)")
    g.add_argument("--restart_epochs", type=float, default=SUPPRESS, help="first cosine cycle, epochs (default: 10)")
    g.add_argument("--grad_clip", type=float, default=SUPPRESS, help="gradient norm clip, 0 = off (default: 1)")
    g.add_argument("--monitor", choices=["val_ua", "val_wa", "val_f1", "val_loss", "val_ccc"], default=SUPPRESS,
                   help="metric for early stopping and the best model (default: val_ua; val_ccc: mean CCC of the "
                        "dimensions, with --dimension_weight; the default with --task dimensions)")
    g.add_argument("--early_stopping_patience", type=int, default=SUPPRESS, help="epochs, 0 = off (default: 10)")
    g.add_argument("--balance", choices=["weights", "sampler", "none"], default=SUPPRESS,
                   help="class balance: weighted loss (default), balanced sampler, or none")
    _bool_pair(g, "calibrate", "after training, fit a temperature on each fold's validation speakers to calibrate "
               "the class probabilities; the argmax (UA, F1) is unchanged (see docs/training.md for when it helps)",
               "keep the raw softmax probabilities (default)")
    _bool_pair(g, "length_buckets", "batches of utterances of similar length: less padding, faster when lengths "
               "vary widely; see docs/training.md", "plain shuffled batches (default)")


def _augment_arguments(g) -> None:
    g.add_argument("--wave_augment", default=SUPPRESS,
                   help="waveform variants extracted once and cached, e.g. speed:0.9,speed:1.1,noise:20,gain:-6 "
                        "(default: none)")
    g.add_argument("--wave_augment_prob", type=float, default=SUPPRESS,
                   help="chance that a training item uses one of the variants (default: 0.5)")


def _hardware_arguments(g) -> None:
    g.add_argument("--accelerator", default=SUPPRESS, help="auto (default), cpu, gpu")
    g.add_argument("--devices", default=SUPPRESS, help="auto (default), a count, or a list such as 0,1")
    g.add_argument("--strategy", default=SUPPRESS, help="auto (default), ddp, ...")
    g.add_argument("--num_nodes", type=int, default=SUPPRESS, help="machines for multi-node DDP (default: 1)")
    g.add_argument("--precision", default=SUPPRESS, help="32-true (default); 16-mixed or bf16-mixed on GPU")
    g.add_argument("--num_workers", type=int, default=SUPPRESS, help="DataLoader workers (default: 0)")
    g.add_argument("--log_interval", type=int, default=SUPPRESS, help="log training loss every N steps (default: 10)")
    g.add_argument("--no_progress", dest="progress", action="store_false", default=SUPPRESS, help="no progress bars")

def resolve(args: argparse.Namespace):
    """(TrainConfig, resume dir or None, flag overrides) from the parsed flags."""
    from sier.training.config import TrainConfig, load_config_yaml

    given = {k: v for k, v in vars(args).items() if not k.startswith("_") and k not in ("command", "verbose", "seeds")}
    config_file = given.pop("config", None)
    resume = given.pop("resume", None)
    base = load_config_yaml(config_file) if config_file else {}
    if resume:
        return None, resume, given
    return TrainConfig.from_dict({**base, **given}), None, given


def run(args: argparse.Namespace) -> int:
    import sys

    from sier.training.config import TrainConfig, parse_int_list
    from sier.training.crossval import run_crossval

    config, resume, overrides = resolve(args)
    seeds = getattr(args, "seeds", None)
    if seeds and (resume or "seed" in vars(args)):
        from sier.errors import TrainingError

        raise TrainingError("--seeds starts one new experiment per seed; it goes with neither --seed nor --resume "
                            "(resume an interrupted one with --resume EXPERIMENT_DIR alone).")
    if resume:
        # typed like the config; checked against the experiment's config (only runtime fields may change)
        typed = TrainConfig.from_dict(overrides)
        overrides = {k: getattr(typed, k) for k in overrides}
        run_crossval(typed, argv=sys.argv[1:], resume=resume, overrides=overrides)
    elif seeds:
        _run_seeds(config, parse_int_list(seeds))
    else:
        run_crossval(config, argv=sys.argv[1:])
    return 0


def _run_seeds(config, seeds: tuple[int, ...]) -> None:
    """One experiment per seed, then the command that evaluates them as repetitions."""
    import sys

    from sier.errors import TrainingError
    from sier.training.crossval import run_crossval

    if not seeds or len(set(seeds)) != len(seeds):
        raise TrainingError(f"--seeds needs distinct seeds such as 0,1,2; got {seeds}")
    flag = "--enhanced_model_path" if config.model == "enhanced" else "--original_model_path"
    directories = []
    for seed in seeds:
        print(f"=== seed {seed} ({len(directories) + 1}/{len(seeds)})")
        directories.append(run_crossval(config.override(seed=seed, name=f"{config.name}_s{seed}"), argv=sys.argv[1:]))
    print(f"\n{len(seeds)} repetitions; evaluate them together (add the other model's the same way):\n"
          f"  sier evaluate {flag} {' '.join(map(str, directories))}")
