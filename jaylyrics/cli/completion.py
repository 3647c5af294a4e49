"""Shell completion beyond click's own: the runs under runs/ by name (--checkpoint, --resume,
--init-from, plot), and the config's dotted keys and their choices for --set KEY=VALUE.

bash splits a word at `=` (it is in COMP_WORDBREAKS), so `--set model.type=g` reaches click as
`model.type`, `=`, `g`: `BashComplete` joins such words back before click parses them, answers
with the part after the `=` (the part bash replaces), and adds no space after a completed `KEY=`.
zsh and fish pass `model.type=g` as one word and get `model.type=gru` back. Only YAML and the
runs' JSON sidecars are read here: completing never loads MXNet or NumPy.
"""

from __future__ import annotations

from click.shell_completion import BashComplete, CompletionItem, add_completion_class


def runs_or_files(ctx, param, incomplete: str) -> list[CompletionItem]:
    """A path (the shell completes it), then the runs under runs/ whose names start with
    `incomplete`, each with its model and best score as help (zsh and fish show it)."""
    return [CompletionItem(incomplete, type="file")] + _runs(incomplete)


def _runs(incomplete: str) -> list[CompletionItem]:
    from jaylyrics import runs

    try:
        found = runs.list_runs(runs.LATEST.parent) if "/" not in incomplete else []
    except OSError:                       # unreadable: no names (completing must not fail)
        found = []
    items = []
    for run in sorted(found, key=lambda r: r["name"]):
        if run["checkpoint"] and run["name"].startswith(incomplete):
            best = run["best"]
            score = f", best {run['metric']} ppl {best:.2f}" if best is not None else ""
            items.append(CompletionItem(run["name"], help=f"{run['model']}{score}, "
                                                          f"{run['status']}"))
    return items


def cache_keys(ctx, param, incomplete: str) -> list[CompletionItem]:
    """For sample's --set: the model.cache_* keys, as `config_keys` completes them."""
    return [item for item in config_keys(ctx, param, incomplete)
            if item.value.startswith("model.cache_")]


def eval_keys(ctx, param, incomplete: str) -> list[CompletionItem]:
    """For eval's --set: the model.cache_* keys and data.corpus (a run's corpus that has moved)."""
    return [item for item in config_keys(ctx, param, incomplete)
            if item.value.startswith(("model.cache_", "data.corpus"))]


def config_keys(ctx, param, incomplete: str) -> list[CompletionItem]:
    """For --set: the keys that start with `incomplete`, as `KEY=`; after a `KEY=`, the key's
    values where they are few (its choices, true/false) or a path (the shell completes it)."""
    from jaylyrics import config

    fields = config.fields()
    if "=" not in incomplete:
        return [CompletionItem(f"{key}=", help=field.metadata["help"])
                for key, field in fields.items() if key.startswith(incomplete)]
    key, _, value = incomplete.partition("=")
    field = fields.get(key)
    if field is None:
        return []
    if field.metadata.get("path"):
        items = [CompletionItem(value, type="file")]
        if key == "train.init_from":
            items += _runs(value)
        return [CompletionItem(f"{key}={item.value}", type=item.type, help=item.help)
                for item in items]
    if isinstance(field.default, bool):
        values = ("true", "false")
    else:
        values = field.metadata.get("choices", ())
    return [CompletionItem(f"{key}={v}") for v in values if v.startswith(value)]


class _BashComplete(BashComplete):
    """click's bash completion, with KEY=VALUE words that bash has split at the `=`."""

    _value_after = ""                           # `KEY=` when completing its value

    source_template = BashComplete.source_template.replace(
        "COMPREPLY+=($value)",
        "COMPREPLY+=($value)\n            [[ $value == *= ]] && compopt -o nospace")

    def get_completion_args(self) -> tuple[list[str], str]:
        args, incomplete = super().get_completion_args()
        words: list[str] = []
        joining = joined = False                # the last word ends in a `=` bash split off
        for word in args + [incomplete]:
            if word == "=" and words:
                words[-1] += "="
                joining = joined = True
            elif joining:
                words[-1] += word
                joining = False
            else:
                words.append(word)
                joined = False
        # bash replaces what follows the `=` where it split there; a quoted word it did not split
        self._value_after = words[-1].partition("=")[0] + "=" if joined else ""
        return words[:-1], words[-1]

    def format_completion(self, item: CompletionItem) -> str:
        value = item.value
        if self._value_after and value.startswith(self._value_after):
            value = value[len(self._value_after):]  # bash replaces only what follows the `=`
        return f"{item.type},{value}"


add_completion_class(_BashComplete, "bash")
