"""Sequential, ModuleList and ModuleDict: naming, indexing, slicing, mutation, iteration."""

from __future__ import annotations

from collections import OrderedDict

import nnrun.engine as nr
import pytest
from nnrun.engine import nn


def layers():
    return [nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1)]


def test_sequential_names_indexing_and_slicing():
    a, b, c = layers()
    seq = nn.Sequential(a, b, c)
    assert list(seq._modules) == ["0", "1", "2"] and len(seq) == 3 and list(seq) == [a, b, c]
    assert seq[0] is a and seq[-1] is c and seq[-3] is a
    head = seq[1:]
    assert isinstance(head, nn.Sequential) and list(head._modules) == ["1", "2"]
    assert head[0] is b and list(head.state_dict()) == ["2.weight", "2.bias"]
    with pytest.raises(IndexError, match="index 3 is out of range"):
        seq[3]


def test_sequential_forward_chains_children():
    seq = nn.Sequential(*layers())
    x = nr.randn(4, 2)
    assert nr.allclose(seq(x), seq[2](seq[1](seq[0](x))))


def test_sequential_ordered_dict_and_mutation():
    a, b, c = layers()
    seq = nn.Sequential(OrderedDict([("fc", a), ("act", b)]))
    assert seq.fc is a and list(seq.state_dict()) == ["fc.weight", "fc.bias"]
    seq.append(c)
    assert list(seq._modules) == ["fc", "act", "2"] and seq[-1] is c
    seq[1] = nn.Tanh()
    assert isinstance(seq.act, nn.Tanh)
    seq = nn.Sequential(a, b, c)
    del seq[0]
    assert list(seq._modules) == ["0", "1"] and seq[0] is b  # renumbered
    assert seq.pop(0) is b and len(seq) == 1
    seq.insert(0, a)
    assert list(seq) == [a, c]
    assert len(seq + nn.Sequential(b)) == 3 and len(seq.extend([b])) == 3


def test_module_list():
    a, b, c = layers()
    ml = nn.ModuleList([a, b])
    ml.append(c)
    assert len(ml) == 3 and ml[-1] is c and list(ml) == [a, b, c]
    assert [n for n, _ in ml.named_parameters()] == ["0.weight", "0.bias", "2.weight", "2.bias"]
    assert isinstance(ml[:2], nn.ModuleList) and list(ml[:2]) == [a, b]
    ml += [nn.ReLU()]
    ml.insert(1, nn.Tanh())
    assert len(ml) == 5 and isinstance(ml[1], nn.Tanh) and ml[2] is b
    del ml[1]
    assert list(ml._modules) == ["0", "1", "2", "3"] and ml[1] is b
    with pytest.raises(TypeError, match="ModuleList.extend should be called with an iterable"):
        ml.extend(3)
    with pytest.raises(NotImplementedError):
        ml(nr.ones(1))


def test_module_list_repr_compresses_repeats():
    ml = nn.ModuleList([nn.Linear(2, 2) for _ in range(3)] + [nn.ReLU()])
    assert repr(ml) == (
        "ModuleList(\n  (0-2): 3 x Linear(in_features=2, out_features=2, "
        "bias=True)\n  (3): ReLU()\n)"
    )
    assert repr(nn.ModuleList()) == "ModuleList()"


def test_module_dict():
    a, b, c = layers()
    md = nn.ModuleDict({"enc": a, "act": b})
    md["dec"] = c
    assert list(md.keys()) == ["enc", "act", "dec"] and "dec" in md and len(md) == 3
    assert list(md) == ["enc", "act", "dec"] and list(md.values()) == [a, b, c]
    assert md.pop("act") is b and len(md) == 2
    md.update([("x", nn.ReLU())])
    assert list(md.state_dict())[:2] == ["enc.weight", "enc.bias"]
    with pytest.raises(ValueError, match="has length 1; 2 is required"):
        md.update([("y",)])
    md.clear()
    assert len(md) == 0
