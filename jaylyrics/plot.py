"""Pictures of training: train and val perplexity per epoch, and below them the learning rate,
from the runs' metrics.csv.

matplotlib is optional (`pip install "jaylyrics[plot]"`); without it, `write_png` raises a
JaylyricsError that says so. Nothing else in jaylyrics imports matplotlib.
"""

from __future__ import annotations

import contextlib
import csv
import io
import logging
import math
import re
import warnings
from pathlib import Path

from jaylyrics import JaylyricsError, columns


# Fonts with Chinese characters that Linux, macOS and Windows commonly have, tried in turn.
CJK_FONTS = ["Noto Sans CJK SC", "Noto Sans SC", "WenQuanYi Zen Hei", "Source Han Sans SC",
             "PingFang SC", "Heiti SC", "Microsoft YaHei", "SimHei", "Arial Unicode MS"]


def available() -> bool:
    try:
        with _quiet_import():
            import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True


@contextlib.contextmanager
def _quiet_import():
    """matplotlib's own log lines meanwhile: where it cannot write its config directory (a home
    that is read-only or missing, as for a container's user without one) it says so, twice, on
    stderr, and uses a temporary one; that is no concern of a lyrics run."""
    logger = logging.getLogger("matplotlib")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        yield
    finally:
        logger.setLevel(level)


def read_metrics(run: Path) -> dict[str, list[float]]:
    """(epoch, value) pairs of RUN/metrics.csv's perplexity and learning-rate columns (empty
    cells dropped)."""
    path = run / "metrics.csv"
    if not path.is_file():
        raise JaylyricsError(f"{run}: no metrics.csv (is it a run directory?)")
    try:
        with open(path, newline="", encoding="utf-8") as f:
            reader = csv.DictReader(f)
            rows = list(reader)
        if not rows:
            raise JaylyricsError(f"{path}: no epoch recorded yet")
        missing = [k for k in ("epoch", "train_ppl") if k not in reader.fieldnames]
        if missing:
            raise ValueError(f"no {' or '.join(missing)} column")
        metrics = {key: [(int(r["epoch"]), float(r[key])) for r in rows if r.get(key)]
                   for key in ("train_ppl", "val_ppl", "val_ppl_model", "lr")}
        for key, pairs in metrics.items():    # (log scales: a 0, say from a row cut short, is
            for epoch, value in pairs:        # no point on them)
                if not (math.isfinite(value) and value > 0):
                    raise ValueError(f"epoch {epoch}: {key} {value:g}, not a positive number")
        return metrics
    except (ValueError, TypeError, csv.Error) as e:            # edited or damaged by hand
        raise JaylyricsError(f"{path}: cannot read it ({e}); expected the CSV that train "
                             "writes") from None


def write_png(runs: list[Path], out: Path) -> str:
    """The runs' `figure`, written to `out` in the format its suffix names (whole or not at all:
    a full disk leaves the picture before). Returns the characters of run names that no font
    here has, drawn as boxes (Chinese ones, without a CJK font); '' if none."""
    if not available():
        raise JaylyricsError('plotting needs matplotlib: pip install "jaylyrics[plot]"')
    from jaylyrics.files import atomic_write

    with _quiet_import():
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.backends.backend_agg import FigureCanvasAgg

    kinds = FigureCanvasAgg.get_supported_filetypes()      # png, pdf, svg, ...
    if out.suffix.lower().lstrip(".") not in kinds:
        common = [k for k in ("png", "pdf", "svg") if k in kinds]
        others = [k for k in sorted(kinds) if k not in common]
        raise JaylyricsError(f"--out {out}: not a picture format matplotlib writes; end the name "
                             f"with .{', .'.join(common)} (or .{', .'.join(others)})")
    # Run names may be Chinese (runs/周杰伦): a CJK font where one is installed, else boxes;
    # matplotlib's warning for each missing glyph is gathered into what this returns.
    fonts = [*CJK_FONTS, *matplotlib.rcParams["font.sans-serif"]]
    with warnings.catch_warnings(record=True) as caught, \
            matplotlib.rc_context({"font.sans-serif": fonts}):
        warnings.simplefilter("always")
        fig = figure(runs)
        picture = io.BytesIO()
        fig.savefig(picture, format=out.suffix.lower().lstrip("."))
    plt.close(fig)
    out.parent.mkdir(parents=True, exist_ok=True)       # (once the runs have been read)
    atomic_write(out, picture.getvalue())
    missing = {}
    for w in caught:
        glyph = re.match(r"Glyph (\d+) .*missing from", str(w.message))
        if glyph:
            missing[chr(int(glyph[1]))] = None               # (in the order drawn)
        else:                                                # (any other: as it came)
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return "".join(missing)


def boxes_note(chars: str) -> str:
    """What to say of the characters `write_png` drew as boxes."""
    shown = chars[:10] + (" ..." if len(chars) > 10 else "")
    return (f"note: no font here has {shown} of the run names: they show as boxes; install a "
            "font with Chinese characters (Debian, Ubuntu: apt install fonts-noto-cjk) and plot "
            "again")


# The lines of each run: which metric, drawn how, called what in the legend.
KINDS = (("train_ppl", "--", "train"), ("val_ppl", "-", "val"),
         ("val_ppl_model", ":", "val, network alone"))


def figure(runs: list[Path]):
    """One matplotlib figure: above, a line per run and split, perplexity on a log scale against
    the epoch; below, each run's learning rate (where it decays, the curves above bend). A run
    of one epoch shows as points (a line through one point is not drawn); epochs are whole. The
    legend stands beside the panels, not over the curves: a colour per run, a line style per
    split, so that it grows by one line a run (not three) when runs are compared."""
    import matplotlib.pyplot as plt
    from matplotlib.lines import Line2D
    from matplotlib.ticker import FuncFormatter, LogFormatter, MaxNLocator, NullFormatter

    fig, (ax, lr_ax) = plt.subplots(2, 1, figsize=(7, 4.5), dpi=100, sharex=True,
                                    gridspec_kw={"height_ratios": [3, 1]})
    lrs, colours, drawn = [], _colours(len(runs)), set()
    for run, colour in zip(runs, colours):
        metrics = read_metrics(run)
        if metrics["val_ppl_model"] == metrics["val_ppl"]:
            metrics["val_ppl_model"] = []                  # no cache: the same line twice
        for key, style, what in KINDS:
            if metrics[key]:
                epochs, values = zip(*metrics[key])
                ax.plot(epochs, values, style, color=colour, label=f"{run.name} {what}",
                        marker="o" if len(epochs) == 1 else None)
                drawn.add(key)
        if metrics["lr"]:
            epochs, values = zip(*metrics["lr"])
            lrs.append(values)
            lr_ax.step(epochs, values, where="post", color=colour, label=run.name,
                       marker="o" if len(epochs) == 1 else None)
    handles = [Line2D([], [], color=colour, lw=3, label=run.name)
               for run, colour in zip(runs, colours)]
    handles += [Line2D([], [], color="0.35", linestyle=style, label=what)
                for key, style, what in KINDS if key in drawn]
    legend_columns = -(-len(handles) // 18)                # at most 18 lines a column
    widest = max(columns(h.get_label()) for h in handles)   # (a Chinese character is two wide)
    room = min(0.45, legend_columns * (0.06 + 0.0105 * widest))   # of the figure, at the right
    fig.legend(handles=handles, loc="upper right", ncol=legend_columns, fontsize="small",
               frameon=False, borderaxespad=0.3)
    ax.set_yscale("log")
    ax.set_ylabel("perplexity")
    ax.grid(True, which="both", alpha=0.3)
    lr_ax.set_yscale("log")
    # numbers as numbers: 200 and 0.001, not 2 x 10^2 and 10^-3; the learning rate between
    # whole decades, labelled there (its small panel has no room for more)
    ax.yaxis.set_major_formatter(LogFormatter(labelOnlyBase=False))
    ax.yaxis.set_minor_formatter(LogFormatter(labelOnlyBase=False, minor_thresholds=(2, 0.4)))
    rates = [value for run_rates in lrs for value in run_rates]
    if rates:
        low, high = math.floor(math.log10(min(rates))), math.ceil(math.log10(max(rates)))
        lr_ax.set_ylim(10.0 ** low / 1.3, 10.0 ** max(high, low + 1) * 1.3)     # (a margin)
    lr_ax.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    lr_ax.yaxis.set_minor_formatter(NullFormatter())
    lr_ax.set_xlabel("epoch")
    lr_ax.xaxis.set_major_locator(MaxNLocator(integer=True))          # (shared with ax)
    lr_ax.set_ylabel("learning rate")
    lr_ax.grid(True, which="both", alpha=0.3)
    with warnings.catch_warnings():        # a legend too long for the room: drawn as it comes
        warnings.filterwarnings("ignore", message="Tight layout not applied")
        fig.tight_layout(rect=(0, 0, 1 - room, 1))
    return fig


def _colours(n: int) -> list:
    """A colour for each of n runs: matplotlib's ten, then tab20's twenty, then a colour map
    (C10 would be C0 again: two runs in one colour)."""
    import matplotlib

    if n <= 10:
        return [f"C{i}" for i in range(n)]
    if n <= 20:
        return [matplotlib.colormaps["tab20"](i) for i in range(n)]
    return [matplotlib.colormaps["viridis"](i / (n - 1)) for i in range(n)]
