"""config.py: defaults, YAML files, overrides, and the error for every kind of mistake."""

import os
import re

import pytest
import yaml
from hypothesis import given, strategies as st

from jaylyrics import ConfigError, config

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_default_yaml_equals_the_built_in_defaults():
    cfg = config.load(os.path.join(ROOT, "configs", "default.yaml"))
    assert cfg == config.Config()


@pytest.mark.parametrize("name", ["default", "tutorial", "tiny", "large"])
def test_shipped_configs_load_and_round_trip(name):
    cfg = config.load(os.path.join(ROOT, "configs", f"{name}.yaml"))
    assert config.from_dict(yaml.safe_load(config.dump(cfg))) == cfg


def test_large_config_is_the_default_with_a_bigger_network():
    large, default = (config.load(os.path.join(ROOT, "configs", f"{name}.yaml"))
                      for name in ("large", "default"))
    m = large.model
    assert (m.hidden_size, m.embed_size, m.tie_weights, m.dropout) == (512, 512, True, 0.7)
    assert large.data == default.data and large.train.epochs == 60
    assert m.embed_drop == 0.2
    assert dict(vars(m), hidden_size=256, embed_size=256, dropout=0.6, embed_drop=0.1) == \
        vars(default.model)


def test_tutorial_config_is_the_tutorials_experiment():
    cfg = config.load(os.path.join(ROOT, "configs", "tutorial.yaml"))
    assert (cfg.data.max_chars, cfg.data.keep_newlines, cfg.data.val_fraction) == (20000, False, 0.0)
    assert (cfg.model.type, cfg.model.hidden_size, cfg.model.embed_size, cfg.model.init_std) == \
        ("rnn", 256, 0, 0.01)
    assert (cfg.model.dropout, cfg.model.weight_drop, cfg.model.embed_drop) == (0.0, 0.0, 0.0)
    t = cfg.train
    assert (t.epochs, t.num_steps, t.batch_size, t.lr, t.clip, t.sampler, t.optimizer, t.loss) == \
        (200, 35, 32, 0.2, 5.0, "random", "sgd", "sum")
    assert t.prefixes == ("分开", "不分开", "战争中部队")


def test_overrides_are_typed_like_yaml():
    cfg = config.load(None, ["train.epochs=3", "model.type=lstm", "data.keep_newlines=false",
                             "train.prefixes=[a, b]", "train.lr=1"])
    assert cfg.train.epochs == 3 and cfg.model.type == "lstm"
    assert cfg.data.keep_newlines is False and cfg.train.prefixes == ("a", "b")
    assert cfg.train.lr == 1.0 and isinstance(cfg.train.lr, float)


@pytest.mark.parametrize("written,value", [("1e-3", 0.001), ("2E-3", 0.002), ("+1.5e+2", 150.0),
                                           (".5e-1", 0.05), ("1.0e2", 100.0), ("3", 3.0)])
def test_a_number_with_an_exponent_is_a_number_as_in_yaml_1_2(tmp_path, written, value):
    """PyYAML reads YAML 1.1, where 1e-3 (no dot) is text: `lr: 1e-3`, as everyone writes it,
    was refused. It is the number it is in YAML 1.2 and in Python, in a file and with --set;
    text that merely looks like one (1e3x) stays text, and a path stays a path."""
    assert config.load(write(tmp_path, f"train:\n  lr: {written}\n")).train.lr == value
    assert config.load(None, [f"train.lr={written}"]).train.lr == value
    assert config.load(write(tmp_path, "train:\n  epochs: 1e1\n")).train.epochs == 10
    with pytest.raises(ConfigError, match="got the string '1e3x'"):
        config.load(None, ["train.lr=1e3x"])
    assert config.load(None, ["train.out_dir=1e3"]).train.out_dir == "1e3"


@pytest.mark.parametrize("written,key,value", [
    ("epochs: 010", "epochs", 10), ("seed: 0123", "seed", 123), ("epochs: 09", "epochs", 9),
    ("seed: 0x1F", "seed", 31), ("epochs: 1_000", "epochs", 1000), ("lr: .5", "lr", 0.5),
    ("prefixes: [3:00, 12:30]", "prefixes", ("3:00", "12:30")),
    ("out_dir: 2024-01-01", "out_dir", "2024-01-01"), ("prefixes: [1:30.5]", "prefixes", ("1:30.5",))])
def test_numbers_are_read_as_yaml_1_2_reads_them(tmp_path, written, key, value):
    """YAML 1.1 (PyYAML's) read `epochs: 010` as octal 8 and `seed: 0123` as 83 without a word,
    a prefix 3:00 as 180 (base 60) and 2024-01-01 as a date; YAML 1.2 (and Python): 10, 123,
    text and text. The same with --set."""
    assert getattr(config.load(write(tmp_path, f"train:\n  {written}\n")).train, key) == value
    k, _, v = written.partition(": ")
    assert getattr(config.load(None, [f"train.{k}={v}"]).train, key) == value
    for setting in ("train:\n  lr: 12:30\n", "train:\n  lr: 2024-01-01\n"):
        text = setting.split(": ")[1].strip()
        with pytest.raises(ConfigError, match=rf"train\.lr: expected a number, got the string "
                                              rf"'{text}'$"):
            config.load(write(tmp_path, setting))


@pytest.mark.parametrize("prefix", ["1e3", "09", "010", "1:30", "2024-01-01", "0x1F", ".5", "yes",
                                    "null", "-.5", "1_0", "+1"])
def test_a_run_config_reads_back_as_it_was_written(tmp_path, prefix):
    """A run's config.yaml is read again by --resume: a prefix (or a directory) that the reader
    takes for a number was written without quotes (`- 1e3`, read back as 1000.0: "expected a
    list of non-empty strings"). Both our reader and PyYAML's own read back the same config."""
    cfg = config.load(None, [f"train.prefixes=[{prefix}, 分开]", f"train.out_dir={prefix}"])
    assert cfg.train.prefixes == (prefix, "分开") and cfg.train.out_dir == prefix
    path = tmp_path / "config.yaml"
    path.write_text(config.dump(cfg), encoding="utf-8")
    assert config.load(path) == cfg
    assert config.from_dict(yaml.safe_load(path.read_text(encoding="utf-8"))) == cfg


def write(tmp_path, text):
    path = tmp_path / "c.yaml"
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize("text,message", [
    ("train:\n  lr: [1,\n", r"line \d+, column \d+: YAML syntax error"),
    ("model:\n\ttype: gru\n", r"line 2, column 1: YAML syntax error: .*'\\t'.* \(YAML indents with spaces, not tabs\)"),
    # PyYAML's words alone, now with what they come from in a config and what to do
    ("train:\n  out_dir: *runs\n", r"line 2, column 12: YAML syntax error: found undefined alias "
     r"'runs' \(YAML reads a value that starts with \* as an alias: put the value in quotes\)$"),
    ("train:\n  prefixes: [分开, @x]\n", r"found character '@' that cannot start any token \(YAML "
     r"does not let a value start with it: put the value in quotes\)$"),
    ("train:\n  prefixes: 分开: 不分开\n", r"line 2, column 15: YAML syntax error: mapping values are "
     r"not allowed here \(a value with ': ' in it: put the value in quotes\)$"),
    ("train:\n  prefixes: ['分开, 不分开]\n  epochs: 3\n", r"line 4, column 1: YAML syntax error: "
     r"found unexpected end of stream \(the quote opened on line 2 is never closed\)$"),
    ("train:\n  prefixes: [分开\n", r"but got '<stream end>' \(the \[ opened on line 2 is never "
     r"closed\)$"),
    ("train:\n epochs: 3\n  lr: 0.1\n", r"line 3, column 5: YAML syntax error: mapping values are "
     r"not allowed here \(line 3 is indented unlike the keys above it: the keys of a section "
     r"line up, each under the one before\)$"),
    ("train:\n  epochs: 3\n lr: 2\n", r"line 3, column 2: YAML syntax error: expected <block end>, "
     r"but found '<block mapping start>' \(line 3 is indented unlike the keys above it"),
    # two configs pasted into one file (a --- between): PyYAML said `but found another document`
    ("train:\n  epochs: 3\n---\nmodel:\n  type: rnn\n", r"line 3, column 1: YAML syntax error: a "
     r"second YAML document starts here \(---\); a config is one document: keep one, or merge "
     r"their keys$"),
    ("- a\n- b\n", "expected a mapping with sections data, model, train, got list"),
    ("a: " + "[" * 5000 + "]" * 5000 + "\n",             # (a RecursionError traceback)
     "nested too deeply to read; expected sections data, model, train holding keys and values"),
    ("train:\n  lr: 0.002\n  epochs: 3\n  lr: 0.5\n",
     r"line 4: train.lr is given twice \(first on line 2\); keep one"),
    ("train:\n  lr: 0.002\nmodel:\n  type: gru\ntrain:\n  epochs: 3\n",
     r"line 5: train is given twice \(first on line 1\)"),
    ("trian:\n  lr: 1.0\n", "unknown section 'trian'; did you mean 'train'"),
    ("train:\n  lrr: 1.0\n", "unknown key 'train.lrr'; did you mean 'train.lr'"),
    ("train:\n  hidden_size: 3\n", "unknown key 'train.hidden_size'; did you mean 'model.hidden_size'"),
    ("train:\n  zzzzzzz: 3\n", r"unknown key 'train.zzzzzzz' \(train's keys: epochs, batch_size, "),
    ("train:\n  lr: fast\n", "train.lr: expected a number, got the string 'fast'"),
    ("train:\n  lr: \"0.5\"\n", r"train.lr: expected a number, got the string '0.5' \(a number in "
     r"quotes is text to YAML: leave the quotes out\)$"),
    ("train:\n  epochs: true\n", "train.epochs: expected a whole number, got true"),
    ("train:\n  lr: yes\n", r"train.lr: expected a number, got true \(to YAML, yes/no and on/off "
     r"are true/false too\)$"),
    ("train:\n  epochs: 2.5\n", "train.epochs: expected a whole number, got 2.5"),
    ("train:\n  epochs: '1e3'\n", r"train.epochs: expected a whole number, got the string '1e3' "
     r"\(a number in quotes is text to YAML: leave the quotes out\)$"),
    ("train:\n  epochs: 1.5e0\n", r"train.epochs: expected a whole number, got 1.5$"),
    ("train:\n  lr: nan\n", r"train.lr: expected a number, got the string 'nan'$"),
    # "off" for a setting where 0 is off: say so (YAML reads off and no as false)
    ("train:\n  clip: none\n", r"train.clip: expected a number, got the string 'none' \(0: no "
     r"clipping\)$"),
    ("train:\n  clip: off\n", r"train.clip: expected a number, got false \(0: no clipping\)$"),
    ("train:\n  patience:\n", r"train.patience: expected a whole number, got no value \(0: "
     r"never\)$"),
    ("model:\n  cache_size: Disabled\n", r"model.cache_size: expected a whole number, got the "
     r"string 'Disabled' \(0: no cache\)$"),
    ("train:\n  lr: none\n", r"train.lr: expected a number, got the string 'none'$"),   # no 0
    ("train:\n  lr: .inf\n", r"train.lr: expected a finite number, got inf$"),
    # lists and mappings as YAML writes them, as the user did (not Python's ['分开', ''])
    ("train:\n  prefixes: [分开, '']\n", r"train.prefixes: expected a list of non-empty strings, "
     r"got \[分开, ''\]$"),
    ("train:\n  lr: {value: 0.1}\n", r"train.lr: expected a number, got \{value: 0.1\}$"),
    ("train:\n  batch_size: 0\n", "train.batch_size: expected a value >= 1, got 0"),
    ("model:\n  hidden_size: -4\n", "model.hidden_size: expected a value >= 1"),
    ("data:\n  val_fraction: 1.0\n", r"data.val_fraction: expected a value in \[0.0, 1.0\)"),
    ("data:\n  val_fraction: -0.1\n", "data.val_fraction: expected a value >= 0.0"),
    ("train:\n  sampler: shuffled\n", "train.sampler: expected one of random, consecutive"),
    ("model:\n  type: transformer\n", "model.type: expected one of rnn, gru, lstm, got the "
     "string 'transformer'$"),
    ("model:\n  type: GRU\n", r"model.type: expected one of rnn, gru, lstm, got the string 'GRU' "
     r"\(write gru\)$"),
    ("train:\n  sampler: 'Random '\n", r"train.sampler: expected one of random, consecutive, got "
     r"the string 'Random ' \(write random\)$"),
    # the names other tools and texts give the choices (d2l: sequential; the tutorial: adjacent)
    ("train:\n  sampler: sequential\n", r"got the string 'sequential' \(write consecutive\)$"),
    ("train:\n  sampler: Adjacent\n", r"got the string 'Adjacent' \(write consecutive\)$"),
    ("model:\n  type: vanilla\n", r"got the string 'vanilla' \(write rnn\)$"),
    ("train:\n  hidden_state: stateful\n", r"got the string 'stateful' \(write carry\)$"),
    ("train:\n  loss: average\n", r"got the string 'average' \(write mean\)$"),
    ("data:\n  encoding: utf8\n", r"got the string 'utf8' \(write utf-8\)$"),
    ("data:\n  encoding: cp936\n", r"got the string 'cp936' \(write gbk\)$"),
    ("data:\n  encoding: Latin-1\n", r"got the string 'Latin-1' \(write cp1252\)$"),
    ("data:\n  encoding: koi8-r\n", r"got the string 'koi8-r'$"),
    # a tag that does not fit its value: PyYAML's ValueError, IndexError, KeyError (tracebacks)
    ("train:\n  epochs: !!int x\n", r"line 2, column 11: YAML syntax error: the tag !!int does "
     r"not fit 'x' \(leave the tag out: each key's type is known\)$"),
    ("train:\n  epochs: !!int\n", r"the tag !!int does not fit ''"),
    ("data:\n  keep_newlines: !!bool maybe\n", r"the tag !!bool does not fit 'maybe'"),
    ("train:\n  lr: !!float x\n", r"the tag !!float does not fit 'x'"),
    ("train:\n  out_dir: !!timestamp x\n", r"the tag !!timestamp does not fit 'x'"),
    # a date tagged as one (an untagged 2024-01-01 is text): was datetime.date(2024, 1, 1)
    ("train:\n  out_dir: !!timestamp 2024-01-01\n", r"train\.out_dir: expected a non-empty "
     r"string, got the date 2024-01-01$"),
    ("train:\n  epochs: !!timestamp 2024-01-01 10:30:00\n", r"train\.epochs: expected a whole "
     r"number, got the date 2024-01-01 10:30:00$"),
    ("train: !!map x\n", r"line 1, column 8: YAML syntax error: expected a mapping node, but "
     r"found scalar$"),                   # (the check for keys given twice raised ValueError)
    # a NUL in a path: os.path.expanduser and Path.resolve raised ValueError (a traceback)
    ("train:\n  out_dir: \"~\\0\"\n", r"train\.out_dir: expected a path, got the string "
     r"'~\\x00' \(no path holds a NUL character\)$"),
    ("data:\n  corpus: \"a\\0b\"\n", r"data\.corpus: expected a path, got the string "
     r"'a\\x00b' \(no path holds a NUL character\)$"),
    ("data:\n  encoding: \"utf\\08\"\n", r"got the string 'utf\\x008'$"),   # (Python's lookup: ValueError)
    ("train:\n  optimizer: adamw\n", r"got the string 'adamw'$"),
    # numbers as people write them
    ("data:\n  val_fraction: 10%\n", r"got the string '10%' \(write 0\.1\)$"),
    ("train:\n  lr: 0.2%\n", r"got the string '0\.2%' \(write 0\.002\)$"),
    ("data:\n  max_chars: 10,000\n", r"got the string '10,000' \(write 10000\)$"),
    ("data:\n  max_chars: 2.5k\n", r"got the string '2\.5k' \(write 2500\)$"),
    ("data:\n  max_chars: 5万\n", r"got the string '5万' \(write 50000\)$"),
    ("data:\n  max_chars: 1.5M\n", r"got the string '1\.5M' \(write 1500000\)$"),
    ("train:\n  epochs: 50%\n", r"got the string '50%'$"),           # not a whole number
    ("train:\n  epochs: 10,00\n", r"got the string '10,00'$"),
    ("train:\n  lr: 0\n", "train.lr: expected a value > 0.0"),
    ("data:\n  keep_newlines: 1\n", "data.keep_newlines: expected true or false"),
    ("train: 3\n", "section 'train' must be a mapping"),
    ("train:\n  - epochs: 3\n  - lr: 0.1\n", r"section 'train' must be a mapping of keys to values "
     r"\(its lines start with '- ', which makes a list: leave the dashes out, the keys indented "
     r"under 'train:'\)$"),
    # a Chinese input method's full-width colon and space, and a key left out of its section
    ("train:\n  epochs： 10\n", r"section 'train' must be a mapping of keys to values \('epochs"
     r"： 10': the colon is full-width; YAML needs ':' and a space\)$"),
    ("train:\n  lr: 0.1\n  epochs：10\n", r"line 4, column 1: YAML syntax error: could not find "
     r"expected ':' \(line 3: 'epochs：' ends in a full-width colon; YAML needs ':' and a "
     r"space\)$"),
    ("# 训练：快\ntrain：\n  epochs: 10\n", r"line 3, column 9: YAML syntax error: mapping values "
     r"are not allowed here \(line 2: 'train：' ends in a full-width colon"),
    ("train:\n\u3000epochs: 10\n", r"unknown section '\\u3000epochs' \(it starts with a "
     r"full-width space, U\+3000: YAML indents with ASCII spaces\)$"),
    ("epochs: 10\n", r"unknown section 'epochs': epochs is a key of train, to be indented under "
     r"'train:'$"),
    ("train\u3000:\n  epochs: 10\n", r"unknown section 'train\\u3000'; did you mean 'train'\?$"),
    ("model:\n  hidden_size: 64\n", r"c\.yaml: model\.tie_weights needs model\.embed_size == "
     r"model\.hidden_size \(got 256 and 64\): set model\.embed_size to 64 too, or "
     "model.tie_weights to false"),
    ("model:\n  cache_weight: 0.5\n  cache_match_weight: 0.6\n",
     r"c\.yaml: model\.cache_weight \+ model\.cache_match_weight must be below 1 \(got 0\.5 \+ 0\.6\)"),
    ("train:\n  state_reset: 0.2\n  sampler: random\n",
     r"c\.yaml: train\.state_reset 0\.2 resets a carried state, but every batch starts from zeros "
     r"here \(train\.sampler random, train\.hidden_state auto\): set train\.state_reset to 0, or "
     r"train\.hidden_state to carry$"),
    ("train:\n  state_reset: 1.01\n", r"train\.state_reset: expected a value <= 1\.0, got 1\.01"),
    ("data:\n  corpus: [a.txt, b.txt]\n", r"data\.corpus: expected a non-empty string, got "
     r"\[a\.txt, b\.txt\] \(one path: put the files in one directory, or a zip, and give "
     r"that\)$"),
    ("train:\n  out_dir: [a, b]\n", r"train\.out_dir: expected a non-empty string, got "
     r"\[a, b\]$"),
])
def test_bad_files(tmp_path, text, message):
    path = write(tmp_path, text)
    with pytest.raises(ConfigError, match=message) as e:
        config.load(path)
    assert str(path) in str(e.value)
    assert "\n" not in str(e.value)


def test_a_config_in_utf16(tmp_path):
    """What Windows Notepad saves as "Unicode" (it was refused as "not UTF-8")."""
    path = tmp_path / "c.yaml"
    path.write_text("train:\n  epochs: 3\n  prefixes: [分开]\n", encoding="utf-16")
    cfg = config.load(path)
    assert (cfg.train.epochs, cfg.train.prefixes) == (3, ("分开",))
    path.write_bytes(b"\xff\xfetrain")                       # an odd byte out
    with pytest.raises(ConfigError, match=r"c\.yaml: starts as UTF-16 but is not \(truncated "
                                          r"data\); save it as UTF-8$"):
        config.load(path)


def test_a_file_that_is_not_utf8(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_bytes(b"train:\n  lr: 0.5 # \xb7\xd6\n")                   # GBK
    with pytest.raises(ConfigError, match=r"c\.yaml: not UTF-8 text \(invalid byte 0xb7 on "
                                          r"line 2, at offset 19\); save it as UTF-8$"):
        config.load(path)


def test_a_path_from_home_is_expanded_as_a_shell_would(tmp_path, monkeypatch):
    """~/ in data.corpus, train.out_dir and train.init_from (quoted on the command line, or in a
    config file, where no shell expands it) is the home directory, not a directory named ~
    made in the working directory; other text keeps its ~."""
    monkeypatch.setenv("HOME", str(tmp_path))
    path = write(tmp_path, "data:\n  corpus: ~/songs.txt\n")
    cfg = config.load(path, ["train.out_dir=~/runs/a", "train.init_from=~/runs/b",
                             "train.prefixes=[~分开]"])
    assert (cfg.data.corpus, cfg.train.out_dir, cfg.train.init_from, cfg.train.prefixes) == \
        (f"{tmp_path}/songs.txt", f"{tmp_path}/runs/a", f"{tmp_path}/runs/b", ("~分开",))


def test_paths_and_prefixes_given_with_set_stay_text():
    """--set is not a YAML file: a directory 2024, a prefix 1999 or yes, a path with ': ' are
    what was typed (they were refused as a number, a flag, a mapping); numbers stay numbers."""
    cfg = config.load(None, ["train.out_dir=2024", "train.prefixes=[1999, yes, 分开]",
                             "data.corpus=live: 2004.txt", "train.init_from=", "train.lr=0.5",
                             "data.keep_newlines=false"])
    assert (cfg.train.out_dir, cfg.train.prefixes, cfg.data.corpus, cfg.train.init_from) == \
        ("2024", ("1999", "yes", "分开"), "live: 2004.txt", "")
    assert (cfg.train.lr, cfg.data.keep_newlines) == (0.5, False)
    assert config.load(None, ["train.prefixes=1999"]).train.prefixes == ("1999",)
    assert config.load(None, ["train.out_dir='my runs'"]).train.out_dir == "my runs"


def test_text_that_yaml_reads_as_a_number_in_a_file(tmp_path):
    for text in ("train:\n  out_dir: 2024\n", "train:\n  prefixes: [yes, 分开]\n"):
        with pytest.raises(ConfigError, match=r"expected .*, got .* \(YAML did not read it as "
                                              r"text: put it in quotes\)$"):
            config.load(write(tmp_path, text))


@pytest.mark.parametrize("name", ["lyrics.txt", "songs.ZIP", "song.lrc"])
def test_a_corpus_given_as_the_config_says_where_it_goes(tmp_path, name):
    """--config my_lyrics.txt (corpus and config mixed up) said "not UTF-8 text ... save it as
    UTF-8" for the zip, and for a text "expected a mapping ..., got str"."""
    path = tmp_path / name
    path.write_text("分开\n不分开\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=rf"^{re.escape(str(path))}: a corpus, not a YAML config: "
                                          rf"give it as --set data\.corpus={re.escape(str(path))} "
                                          r"\(--config takes a file such as configs/default\.yaml\)$"):
        config.load(path)


def test_a_run_given_as_the_config_says_which_config_and_how_to_go_on(tmp_path):
    """--config runs/default (its directory, best.json, a weights file) said "unknown section
    'format'", "is a directory" or "not UTF-8 text": now the run's config.yaml for a new run,
    and --resume for this one."""
    from jaylyrics import checkpoint, model
    from jaylyrics.backend import mx
    from jaylyrics.corpus import Vocab

    run = tmp_path / "runs" / "mine"
    cfg = config.from_dict({"model": {"hidden_size": 4, "embed_size": 4}})
    vocab = Vocab.build("分开\n")
    sidecar = checkpoint.save(run, "best", model.init_params(cfg.model, len(vocab), mx.cpu(), 0),
                              cfg, vocab, 1, {"val_ppl": 3.0})
    (run / "config.yaml").write_text(config.dump(cfg), encoding="utf-8")
    weights = next(run.glob("weights-*.params"))
    for path, what in ((run, "a run directory"), (sidecar, "a checkpoint"),
                       (weights, "a checkpoint's weights")):
        with pytest.raises(ConfigError) as e:
            config.load(path)
        assert str(e.value) == (f"{path}: {what}, not a YAML config: to train a new run with its "
                                f"settings, --config {run / 'config.yaml'} --set train.out_dir=DIR; "
                                f"to go on training it, --resume {run}")
    assert config.load(run / "config.yaml") == cfg                 # (what it names does load)


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ConfigError, match="no such config file"):
        config.load(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="is a directory"):
        config.load(tmp_path)


def test_a_missing_config_names_the_closest_one(tmp_path, monkeypatch):
    """`--config configs/default.yml` (or defualt, or tiny.yaml from the project directory) said
    only "no such config file": now which config is closest, beside it or among the project's,
    as a path from the working directory; else the project's configs (none: nothing more)."""
    from pathlib import Path

    from jaylyrics import PROJECT_DIR

    monkeypatch.chdir(PROJECT_DIR)
    ours = sorted(p.name for p in (PROJECT_DIR / "configs").glob("*.yaml"))
    assert {"default.yaml", "tiny.yaml"} <= set(ours)
    for typed, meant in (("configs/default.yml", "configs/default.yaml"),
                         ("configs/defualt.yaml", "configs/default.yaml"),
                         ("tiny.yaml", "configs/tiny.yaml"), ("default", "configs/default.yaml")):
        with pytest.raises(ConfigError, match=rf"^{re.escape(typed)}: no such config file; did "
                                              rf"you mean {re.escape(meant)}\?$"):
            config.load(Path(typed))
    with pytest.raises(ConfigError, match=r"^zzz\.yaml: no such config file \(the project's "
                                          r"configs: " + re.escape(", ".join(
                                              f"configs/{name}" for name in ours)) + r"\)$"):
        config.load(Path("zzz.yaml"))
    monkeypatch.chdir(tmp_path)                    # beside it first; from elsewhere, full paths
    (tmp_path / "mine.yaml").write_text("train:\n  epochs: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"did you mean mine\.yaml\?$"):
        config.load(Path("mien.yaml"))
    with pytest.raises(ConfigError, match=rf"did you mean "
                                          rf"{re.escape(str(PROJECT_DIR / 'configs' / 'tiny.yaml'))}"):
        config.load(Path("configs/tiny.yaml"))
    # nothing close: the configs beside it (the user's own), not the project's far away
    (tmp_path / "configs").mkdir()
    for name in ("lyrics.yaml", "small.yml"):
        (tmp_path / "configs" / name).write_text("train:\n  epochs: 1\n", encoding="utf-8")
    with pytest.raises(ConfigError, match=r"^configs/zzz\.yaml: no such config file \(beside "
                                          r"it: configs/lyrics\.yaml, configs/small\.yml\)$"):
        config.load(Path("configs/zzz.yaml"))
    import jaylyrics                               # installed without its source: no configs

    monkeypatch.setattr(jaylyrics, "PROJECT_DIR", tmp_path / "site-packages")
    with pytest.raises(ConfigError, match=r"^zzz\.yaml: no such config file \(beside it: "
                                          r"mine\.yaml\)$"):
        config.load(Path("zzz.yaml"))
    (tmp_path / "mine.yaml").unlink()
    with pytest.raises(ConfigError, match=r"^zzz\.yaml: no such config file$"):
        config.load(Path("zzz.yaml"))


def test_empty_file_gives_the_defaults(tmp_path):
    assert config.load(write(tmp_path, "")) == config.Config()


@pytest.mark.parametrize("item,message", [
    ("train.lr", "expected KEY=VALUE"),
    ("train.lrr=3", "unknown key 'train.lrr'; did you mean 'train.lr'"),
    ("lr=3", "unknown key 'lr'; did you mean 'train.lr'"),          # (it listed every key)
    ("epochs=5", "unknown key 'epochs'; did you mean 'train.epochs'"),
    ("train.hidden_size=3", "did you mean 'model.hidden_size'"),
    ("train.zzzzzzzz=1", r"unknown key 'train.zzzzzzzz' \(train's keys: epochs, batch_size, "),
    ("zzzzz=1", r"unknown key 'zzzzz' \(keys are SECTION.KEY, with the sections data, model, "
                r"train\)$"),
    ("=3", "--set =3: no key before '='; expected KEY=VALUE"),
    ("train.prefixes=[分开", r"not a YAML list \(.*\); write train.prefixes=\[a, b\]"),
    ("train.epochs=many", "--set: train.epochs: expected a whole number"),
    ("train.epochs=!!int x", r"--set: train.epochs: expected a whole number, got the string "
                             r"'!!int x'$"),                   # (was a ValueError's traceback)
    ("train.patience=", r"--set: train.patience: expected a whole number, got no value \(0: "
                        r"never\)$"),                          # (as `patience:` in YAML)
])
def test_bad_overrides(item, message):
    with pytest.raises(ConfigError, match=message):
        config.load(None, [item])


@given(epochs=st.integers(1, 10**6), lr=st.floats(1e-6, 1e3), kind=st.sampled_from(["rnn", "gru", "lstm"]),
       frac=st.floats(0, 0.99), prefixes=st.lists(st.text(min_size=1, max_size=5), min_size=1, max_size=3))
def test_valid_values_round_trip_through_yaml(epochs, lr, kind, frac, prefixes):
    raw = {"train": {"epochs": epochs, "lr": lr, "prefixes": prefixes},
           "model": {"type": kind}, "data": {"val_fraction": frac}}
    cfg = config.from_dict(raw)
    assert (cfg.train.epochs, cfg.train.lr, cfg.model.type) == (epochs, lr, kind)
    assert config.from_dict(yaml.safe_load(config.dump(cfg))) == cfg


@given(value=st.one_of(st.text(), st.booleans(), st.lists(st.integers()), st.none(),
                       st.floats(allow_nan=True)))
def test_any_value_is_accepted_or_rejected_cleanly(value):
    for key in config.all_keys():
        section, name = key.split(".")
        try:
            config.from_dict({section: {name: value}})
        except ConfigError as e:
            assert key in str(e) and "\n" not in str(e)


def test_readme_documents_every_key_with_its_default():
    """The README's configuration table lists every key once, with the built-in default."""
    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    section = readme.split("\n## Configuration\n", 1)[1].split("\n## ", 1)[0]
    rows = re.findall(r"^\| `([a-z_]+\.[a-z_]+)` \| `([^`]*)` \|", section, flags=re.M)
    assert [key for key, _ in rows] == config.all_keys()
    defaults = config.to_dict(config.Config())
    for key, shown in rows:
        section_name, name = key.split(".")
        expected = defaults[section_name][name]
        assert yaml.safe_load(shown) == (list(expected) if isinstance(expected, tuple) else expected), key


def test_readme_points_to_code_that_exists():
    """Every `module.name` the README's map from the tutorial to the code names is there."""
    import importlib

    with open(os.path.join(ROOT, "README.md"), encoding="utf-8") as f:
        readme = f.read()
    table = readme.split("| the tutorial's | here |", 1)[1].split("\n\n", 1)[0]
    names = re.findall(r"`((?:corpus|model|train|optim|sample)(?:\.\w+)+)`", table)
    assert len(names) >= 15
    for dotted in names:
        module, *attrs = dotted.split(".")
        obj = importlib.import_module(f"jaylyrics.{module}")
        for attr in attrs:
            obj = getattr(obj, attr)


def test_a_rule_about_several_keys_names_set_when_an_override_broke_it(tmp_path):
    with pytest.raises(ConfigError, match=r"^--set: model\.tie_weights needs .* set model\.embed_size "
                                          "to 512 too"):
        config.load(None, ["model.hidden_size=512"])
    path = write(tmp_path, "model:\n  hidden_size: 512\n  embed_size: 512\n")
    assert config.load(path).model.tie_weights
    cfg = config.load(None, ["model.hidden_size=512", "model.embed_size=512"])
    assert (cfg.model.hidden_size, cfg.model.embed_size) == (512, 512)
    assert not config.load(None, ["model.hidden_size=512", "model.tie_weights=false"]).model.tie_weights
    with pytest.raises(ConfigError, match=r"^--set: train\.state_reset 0\.5 resets a carried "):
        config.load(None, ["train.state_reset=0.5", "train.hidden_state=reset"])
    cfg = config.load(None, ["train.state_reset=0.5", "train.sampler=random",
                             "train.hidden_state=carry"])
    assert cfg.train.state_reset == 0.5 and cfg.train.carries_state
