"""The config loader's error messages (file, line, key path, a suggestion) and the property that
anything in gives a Config or a ConfigError, never a crash. Values and defaults: test_config.py."""

from __future__ import annotations

import pytest
import yaml
from config_examples import DESIGN_EXAMPLE, edited, problems_of
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nnrun.cli.config import Config, ConfigError, dump_config, load_config, parse_config
from nnrun.cli.errors import NnrunError, Problem, TrainingFailed

# --- error messages -----------------------------------------------------------------------------


def test_unknown_top_level_key_suggests_the_right_one_with_its_line():
    lines = problems_of(edited("optimizer:", "optimzer:"))
    assert lines == ["run.yaml:16: optimzer: unknown key 'optimzer'; did you mean 'optimizer'?"]


def test_unknown_nested_key_names_its_path_and_line():
    lines = problems_of(edited("train: {epochs: 10}", "train:\n  log_every: 5\n  epoch: 3"))
    assert lines == ["run.yaml:19: train.epoch: unknown key 'epoch'; did you mean 'epochs'?"]


def test_unknown_key_without_a_close_match_lists_the_allowed_keys():
    (line,) = problems_of(edited("seed: 0", "seed: 0\nflavour: 1"))
    assert line.startswith("run.yaml:3: flavour: unknown key 'flavour'; expected one of name, seed")


def test_dataset_arguments_misplaced_in_data_point_to_data_args():
    (line,) = problems_of(edited("batch_size: 32", "batch_size: 32\n  n_samples: 500"))
    assert "run.yaml:8: data.n_samples: unknown key" in line and "data.args" in line


def test_wrong_type_names_path_line_and_value():
    lines = problems_of(edited("batch_size: 32", "batch_size: lots"))
    assert lines == ["run.yaml:7: data.batch_size: should be a valid integer, got 'lots'"]


@pytest.mark.parametrize(
    ("old", "new", "expected"),
    [
        ("lr: 1.0e-3", "lr: -0.1", "run.yaml:16: optimizer.lr: should be greater than 0, got -0.1"),
        (
            "batch_size: 32",
            "batch_size: 0",
            "run.yaml:7: data.batch_size: should be greater than or equal to 1, got 0",
        ),
        (
            "val_split: 0.2",
            "val_split: 1.5",
            "run.yaml:6: data.val_split: should be less than 1, got 1.5",
        ),
        (
            "val_split: 0.2",
            "val_split: -0.1",
            "run.yaml:6: data.val_split: should be greater than or equal to 0",
        ),
        (
            "epochs: 10",
            "epochs: 0",
            "run.yaml:17: train.epochs: should be greater than or equal to 1, got 0",
        ),
        ("seed: 0", "seed: -1", "run.yaml:2: seed: should be greater than or equal to 0, got -1"),
    ],
)
def test_absurd_values_are_rejected(old, new, expected):
    assert problems_of(edited(old, new))[0].startswith(expected)


def test_every_problem_is_reported_in_file_order():
    lines = problems_of(edited("lr: 1.0e-3", "lr: 0").replace("batch_size: 32", "batch_size: -2"))
    assert [line.split(":")[1] for line in lines] == ["7", "16"]


def test_missing_section_and_missing_key():
    lines = problems_of(edited("loss: CrossEntropyLoss\n", "").replace("lr: 1.0e-3", "lrate: 1"))
    assert "run.yaml:1: loss: required key 'loss' is missing" in lines
    assert "run.yaml:15: optimizer.lr: required key 'lr' is missing (is 'lrate' a typo?)" in lines


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "data: [1, 2\nmodel: {}\n",
            "run.yaml:2:6: invalid YAML: expected ',' or ']', but got ':' (while parsing a flow",
        ),
        ("a: 1\n b: 2\n", "run.yaml:2:3: invalid YAML: mapping values are not allowed here"),
        ("a: 1\n\tb: 2\n", "run.yaml:2:1: invalid YAML: found character '\\t'"),
        (
            "a: 1\n---\nb: 2\n",
            "run.yaml:2:1: invalid YAML: expected a single document in the stream, but found another",
        ),
        ("", "run.yaml: the config is empty"),
        ("# nothing\n", "run.yaml: the config is empty"),
        ("- Linear\n", "run.yaml:1: the top level must be a mapping of sections"),
        ("42\n", "run.yaml:1: the top level must be a mapping of sections"),
        ("seed: 1\nseed: 2\n", "run.yaml:2: seed: duplicate key (first given at line 1)"),
        ("a: &x [*x]\n", "run.yaml:1: an alias refers to a node that contains it"),
        ("1: x\n", "run.yaml:1: 1: keys must be strings, got 1; quote it"),
        (
            "a: !!python/object:os.system {}\n",
            "run.yaml:1:4: invalid YAML: could not determine a constructor",
        ),
    ],
)
def test_malformed_files_are_config_errors_with_lines(text, expected):
    assert problems_of(text)[0].startswith(expected)


def test_alias_bombs_are_refused():
    layers = ["a: &a [x, x, x, x, x, x, x, x, x, x]"]
    layers += [f"{c}: &{c} [{', '.join(['*' + p] * 10)}]" for p, c in zip("abcdef", "bcdefg")]
    assert "aliases expand it past" in problems_of("\n".join(layers))[0]


def test_missing_file_and_directory(tmp_path):
    with pytest.raises(ConfigError, match=r"nope.yaml: no such file"):
        load_config(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match=r": is a directory, not a YAML file"):
        load_config(tmp_path)
    (tmp_path / "bin.yaml").write_bytes(b"\xff\xfe\x00")
    with pytest.raises(ConfigError, match=r"bin.yaml: not UTF-8 text"):
        load_config(tmp_path / "bin.yaml")


def test_config_error_is_an_nnrun_error_with_exit_code_2_and_one_problem_per_line():
    error = ConfigError(
        [Problem("a.yaml", 3, "train.epochs", "bad"), Problem("a.yaml", None, "", "worse")]
    )
    assert isinstance(error, NnrunError) and error.exit_code == 2
    assert str(error) == "a.yaml:3: train.epochs: bad\na.yaml: worse"
    assert TrainingFailed("diverged").exit_code == 1


def test_config_error_helper_points_at_a_line():
    cfg = parse_config(DESIGN_EXAMPLE, "run.yaml")
    assert str(cfg.error("model.layers.3", "bad p")) == "run.yaml:13: model.layers.3: bad p"
    assert str(cfg.error(("train", "grad_clip"), "x")) == "run.yaml:17: train.grad_clip: x"


# --- property: anything in, Config or ConfigError out --------------------------------------------

_KEYS = [
    "name",
    "seed",
    "device",
    "data",
    "model",
    "loss",
    "optimizer",
    "scheduler",
    "train",
    "checkpoint",
    "expect",
    "dataset",
    "val_split",
    "batch_size",
    "shuffle",
    "validation",
    "format",
    "path",
    "layers",
    "class",
    "args",
    "lr",
    "epochs",
    "early_stopping",
    "monitor",
    "mode",
    "min",
    "max",
    "Linear",
    "interval",
    "keep",
    "x",
]
_SCALARS = (
    st.none()
    | st.booleans()
    | st.integers(-3, 2**40)
    | st.floats(allow_nan=False)
    | st.sampled_from(
        ["auto", "cpu", "mps", "min", "val_acc", "Linear", "a:B", "x.npz", "1e-3", ""]
    )
    | st.text(max_size=8)
)
_VALUES = st.recursive(
    _SCALARS,
    lambda inner: (
        st.lists(inner, max_size=4)
        | st.dictionaries(
            st.sampled_from(_KEYS) | st.text(max_size=6) | st.integers(0, 3), inner, max_size=4
        )
    ),
    max_leaves=20,
)
_VALID = yaml.safe_load(DESIGN_EXAMPLE)


def _paths(node, prefix=()):
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from _paths(value, (*prefix, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _paths(value, (*prefix, i))


_VALID_PATHS = [p for p in _paths(_VALID) if p]


@st.composite
def _mutated_configs(draw):
    """The DESIGN example with a few values replaced or keys added at random."""
    config = yaml.safe_load(DESIGN_EXAMPLE)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(_VALID_PATHS))
        parent = config
        try:
            for part in path[:-1]:
                parent = parent[part]
            if draw(st.booleans()):
                parent[path[-1]] = draw(_VALUES)
            elif isinstance(parent, dict):
                parent[draw(st.sampled_from(_KEYS))] = draw(_VALUES)
        except (KeyError, IndexError, TypeError):
            pass  # an earlier mutation replaced part of the path
    return config


def _check(config):
    try:
        cfg = parse_config(config)
    except ConfigError as e:
        assert e.problems and all(str(p) for p in e.problems)
        return
    assert isinstance(cfg, Config)
    assert parse_config(dump_config(cfg)) == cfg


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.dictionaries(st.sampled_from(_KEYS) | st.text(max_size=6), _VALUES, max_size=8))
def test_random_dicts_give_a_config_or_a_config_error(config):
    _check(config)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(_mutated_configs())
def test_mutated_valid_configs_give_a_config_or_a_config_error(config):
    _check(config)
    _check(yaml.safe_dump(config))


@settings(max_examples=150, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("ab:-[]{}&*!|>'\"#, \n\t1e.")), max_size=40))
def test_random_yaml_text_gives_a_config_or_a_config_error(text):
    _check(text)
