"""Fine-tuning: a new run that starts from the weights of a trained one (`train.init_from`), the
way char-rnn's -init_from and nanoGPT's finetuning do: a small corpus of your own, starting from
the model trained on all of Jay Chou's lyrics.

The new run keeps the source's network (its cell, sizes and layers) and its vocabulary, extended
by the characters of the new corpus that the source never saw, appended in sorted order. Old ids
keep their meaning, so every weight carries over; the rows (or, for one-hot input, the columns)
of the new characters start as a fresh run's would. The optimiser, the epochs and the learning
rate start afresh, as the config says.

Only the parameter dict and the vocabulary; the CLI loads the source checkpoint.
"""

from __future__ import annotations

import dataclasses

from jaylyrics import CheckpointError, counted
from jaylyrics.config import shown
from jaylyrics.corpus import Vocab

# The model keys that fix the network's shape: a fine-tuned run takes them from its source.
ARCHITECTURE = ("type", "hidden_size", "num_layers", "embed_size", "tie_weights")
# Regularisation comes from the new config; the note says where it differs from the source's.
REGULARISATION = ("dropout", "weight_drop", "embed_drop")


def extend_vocab(vocab: Vocab, text: str) -> Vocab:
    """`vocab` followed by the characters of `text` it lacks, sorted (so the order never depends
    on the hash seed)."""
    known = set(vocab.chars)
    return Vocab(vocab.chars + "".join(sorted({c for c in text if c not in known})))


def adopt_architecture(model_cfg, source_cfg):
    """(model_cfg with the source's ARCHITECTURE keys, {key: (ours, source's)} where they
    differed). Dropout, weight drop, the cache and init_std stay as configured."""
    changed = {k: (getattr(model_cfg, k), getattr(source_cfg, k)) for k in ARCHITECTURE
               if getattr(model_cfg, k) != getattr(source_cfg, k)}
    return dataclasses.replace(model_cfg, **{k: v[1] for k, v in changed.items()}), changed


def kept_from_source(changed: dict) -> str:
    """What a note says of the keys `adopt_architecture` took from the source where the config
    said otherwise: 'the network as trained there: model.type gru (not lstm)', a flag as YAML
    writes it (model.tie_weights true); '' if none."""
    return "the network as trained there: " + ", ".join(
        f"model.{k} {shown(theirs)} (not {shown(ours)})" for k, (ours, theirs) in changed.items()) \
        if changed else ""


def network(model_cfg, source, text: str):
    """The network a fine-tune from `source` (a loaded Checkpoint) trains, on a corpus of
    `text`: (model_cfg with the source's ARCHITECTURE keys, the source's vocabulary extended by
    the characters of `text`, the keys that differed as for `adopt_architecture`)."""
    adopted, changed = adopt_architecture(model_cfg, source.config.model)
    return adopted, extend_vocab(source.vocab, text), changed


def transfer(source: dict, fresh: dict, where: str) -> dict:
    """`fresh` (the new run's initial parameters, for the extended vocabulary) with every value
    of `source` copied in: each source array fills the leading part of its counterpart, which is
    longer only along the vocabulary axis. Returns `fresh`, changed in place."""
    if set(source) != set(fresh):
        raise CheckpointError(f"{where}: its parameters ({', '.join(sorted(source))}) are not "
                              f"those of the network it configures ({', '.join(sorted(fresh))})")
    for name, target in fresh.items():
        value = source[name]
        grown = [b - a for a, b in zip(value.shape, target.shape)]
        if len(value.shape) != len(target.shape) or min(grown) < 0 or sum(g > 0 for g in grown) > 1:
            raise CheckpointError(f"{where}: parameter {name} has shape {tuple(value.shape)}, "
                                  f"expected {tuple(target.shape)} or fewer rows")
        region = tuple(slice(0, n) for n in value.shape)
        target[region] = value.as_in_context(target.context)
    return fresh


def start(source, cfg, data, ctx):
    """A fine-tuning run's beginning from `source` (a loaded Checkpoint): (cfg with the source's
    network, data with the extended vocabulary, the initial parameters with gradients attached,
    a note for the user)."""
    from jaylyrics import model

    model_cfg, vocab, changed = network(cfg.model, source, data.vocab.chars)
    cfg = dataclasses.replace(cfg, model=model_cfg)
    data = dataclasses.replace(data, vocab=vocab)
    fresh = model.init_params(model_cfg, len(vocab), ctx, cfg.train.seed)
    params = transfer(source.params, fresh, str(source.path))
    added = vocab.chars[len(source.vocab):]
    listed = " ".join(repr(c) for c in added[:10]) + (" ..." if len(added) > 10 else "")
    note = (f"init: weights of {source.path} (epoch {source.meta.get('epoch')}); "
            + (f"{counted(len(added), 'new character')} added to its vocabulary of "
               f"{len(source.vocab):,}: "
               f"{listed}" if added else f"no new characters for its vocabulary of {len(vocab):,}"))
    if changed:
        note += "; " + kept_from_source(changed)
    differs = [f"model.{k} {getattr(model_cfg, k)} (trained with {getattr(source.config.model, k)})"
               for k in REGULARISATION
               if getattr(model_cfg, k) != getattr(source.config.model, k)]
    if differs:
        note += "; from the config: " + ", ".join(differs)
    return cfg, data, params, note
