"""Shape ops of the functional API: reshape/view, squeeze, permute, expand, cat/stack,
split/chunk/narrow, flip. Re-exported by ``api``."""

from __future__ import annotations

import builtins

from .. import backend
from . import shape as S
from .reduce import norm_dim, norm_dims


def infer_shape(shape, numel: int) -> tuple:
    """Resolve one ``-1`` in ``shape``; RuntimeError when ``shape`` cannot hold ``numel``."""
    if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
        shape = tuple(shape[0])
    shape = tuple(int(s) for s in shape)
    known = 1
    infer = None
    for i, s in enumerate(shape):
        if s == -1:
            if infer is not None:
                raise RuntimeError("only one dimension can be inferred")
            infer = i
        elif s < 0:
            raise RuntimeError(f"invalid shape dimension {s}")
        else:
            known *= s
    if infer is not None:
        if known == 0 or numel % known:
            raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
        shape = shape[:infer] + (numel // known,) + shape[infer + 1 :]
    elif known != numel:
        raise RuntimeError(f"shape '{list(shape)}' is invalid for input of size {numel}")
    return shape


def reshape(input, *shape):
    return S.Reshape.apply(input, shape=infer_shape(shape, input.numel()))


def view(input, *shape):
    if len(shape) == 1 and not isinstance(shape[0], (int, tuple, list)):
        return input.to(shape[0])  # view(dtype) is not supported beyond same-size casts
    shape = infer_shape(shape, input.numel())
    if not backend.can_view(input._data, shape):
        raise RuntimeError(
            "view size is not compatible with input tensor's size and stride (at least one "
            "dimension spans across two contiguous subspaces). Use .reshape(...) instead."
        )
    return S.Reshape.apply(input, shape=shape)


def flatten(input, start_dim=0, end_dim=-1):
    if input.ndim == 0:
        return reshape(input, 1)
    s, e = norm_dim(start_dim, input.ndim), norm_dim(end_dim, input.ndim)
    if s > e:
        raise RuntimeError("flatten() has invalid args: start_dim cannot come after end_dim")
    if s == e:
        return input  # as PyTorch: nothing to flatten, the tensor itself
    shp = input.shape
    n = 1
    for d in shp[s : e + 1]:
        n *= d
    return reshape(input, *shp[:s], n, *shp[e + 1 :])


def unflatten(input, dim, sizes):
    d = norm_dim(dim, input.ndim)
    sizes = tuple(sizes)
    known = [s for s in sizes if s != -1]
    n = 1
    for s in known:
        n *= s
    if (len(known) == len(sizes) and n != input.shape[d]) or (
        len(known) < len(sizes) and (n == 0 or input.shape[d] % n)
    ):
        raise RuntimeError(
            f"unflatten: Provided sizes {list(sizes)} don't multiply up to the size "
            f"of dim {dim} ({input.shape[d]}) in the input tensor"
        )
    sizes = infer_shape(sizes, input.shape[d])
    return reshape(input, *input.shape[:d], *sizes, *input.shape[d + 1 :])


def squeeze(input, dim=None):
    shp = input.shape
    if dim is None:
        return S.Squeeze.apply(input, shape=tuple(s for s in shp if s != 1))
    dims = norm_dims(dim, input.ndim) if input.ndim else ()
    new = tuple(s for i, s in enumerate(shp) if not (i in dims and s == 1))
    return S.SqueezeDim.apply(input, shape=new)


def unsqueeze(input, dim):
    d = norm_dim(dim, input.ndim, extra=1)
    shp = input.shape
    return S.Unsqueeze.apply(input, shape=shp[:d] + (1,) + shp[d:])


def permute(input, *dims):
    if len(dims) == 1 and isinstance(dims[0], (tuple, list)):
        dims = tuple(dims[0])
    if len(dims) != input.ndim:
        raise RuntimeError(
            f"permute(sparse_coo): number of dimensions in the tensor input does not match the "
            f"length of the desired ordering of dimensions i.e. input.dim() = {input.ndim} is not "
            f"equal to len(dims) = {len(dims)}"
        )
    axes = tuple(norm_dim(d, input.ndim) for d in dims)
    if len(set(axes)) != len(axes):
        raise RuntimeError("permute(): duplicate dims are not allowed.")
    return S.Permute.apply(input, axes=axes)


def transpose(input, dim0, dim1):
    n = input.ndim
    if n == 0:
        return input.view(())
    axes = list(range(n))
    a, b = norm_dim(dim0, n), norm_dim(dim1, n)
    axes[a], axes[b] = axes[b], axes[a]
    return S.Transpose.apply(input, axes=tuple(axes))


def t(input):
    n = input.ndim
    if n > 2:
        raise RuntimeError(f"t() expects a tensor with <= 2 dimensions, but self is {n}D")
    return S.T.apply(input, axes=(1, 0) if n == 2 else tuple(range(n)))


def expand(input, *sizes):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < input.ndim:
        raise RuntimeError(
            f"expand(torch.FloatTensor{{{list(input.shape)}}}, size={list(sizes)}): the number of "
            f"sizes provided ({len(sizes)}) must be greater or equal to the number of dimensions "
            f"in the tensor ({input.ndim})"
        )
    lead = len(sizes) - input.ndim
    shape = []
    for i, s in enumerate(sizes):
        old = input.shape[i - lead] if i >= lead else None
        if s == -1:
            if old is None:
                raise RuntimeError("expand: -1 is not allowed in a leading, non-existing dimension")
            s = old
        elif old is not None and old != 1 and old != s:
            raise RuntimeError(
                f"The expanded size of the tensor ({s}) must match the existing size ({old}) at "
                f"non-singleton dimension {i}.  Target sizes: {list(sizes)}.  Tensor sizes: "
                f"{list(input.shape)}"
            )
        shape.append(s)
    return S.Expand.apply(input, shape=tuple(shape))


def repeat(input, *sizes):
    if len(sizes) == 1 and isinstance(sizes[0], (tuple, list)):
        sizes = tuple(sizes[0])
    if len(sizes) < input.ndim:
        raise RuntimeError(
            "Number of dimensions of repeat dims can not be smaller than number of "
            "dimensions of tensor"
        )
    return S.Repeat.apply(input, reps=tuple(sizes))


def _same_dtype_list(tensors, name):
    tensors = list(tensors)
    if not tensors:
        raise RuntimeError(f"{name}(): expected a non-empty list of Tensors")
    dt = tensors[0].dtype
    for x in tensors[1:]:
        dt = backend.promote_types(dt, x.dtype)
    return [x if x.dtype is dt else x.to(dt) for x in tensors]


def cat(tensors, dim=0):
    tensors = _same_dtype_list(tensors, "cat")
    ref = builtins.max(tensors, key=lambda x: x.ndim)
    tensors = [x for x in tensors if not (x.ndim == 1 and x.shape[0] == 0)] or tensors[:1]
    axis = norm_dim(dim, ref.ndim)
    for i, x in enumerate(tensors):
        if x.ndim != ref.ndim:
            raise RuntimeError(
                f"Tensors must have same number of dimensions: got {ref.ndim} and {x.ndim}"
            )
        for d in range(ref.ndim):
            if d != axis and x.shape[d] != ref.shape[d]:
                raise RuntimeError(
                    f"Sizes of tensors must match except in dimension {axis}. Expected size "
                    f"{ref.shape[d]} but got size {x.shape[d]} for tensor number {i} in the list."
                )
    return S.Cat.apply(*tensors, axis=axis)


concat = concatenate = cat


def stack(tensors, dim=0):
    tensors = _same_dtype_list(tensors, "stack")
    first = tensors[0].shape
    for i, x in enumerate(tensors):
        if x.shape != first:
            raise RuntimeError(
                f"stack expects each tensor to be equal size, but got {list(first)} "
                f"at entry 0 and {list(x.shape)} at entry {i}"
            )
    return S.Stack.apply(*tensors, axis=norm_dim(dim, tensors[0].ndim, extra=1))


def split(tensor, split_size_or_sections, dim=0):
    axis = norm_dim(dim, tensor.ndim)
    n = tensor.shape[axis]
    if isinstance(split_size_or_sections, int):
        step = split_size_or_sections
        if step <= 0:
            raise (
                RuntimeError(
                    f"split_size can only be 0 if dimension size is 0, but got "
                    f"dimension size of {n}"
                )
                if step == 0
                else ValueError("split expects split_size be non-negative")
            )
        sizes = [builtins.min(step, n - i) for i in range(0, n, step)] or [0]
    else:
        sizes = list(split_size_or_sections)
        if builtins.sum(sizes) != n:
            raise RuntimeError(
                f"split_with_sizes expects split_sizes to sum exactly to {n} (input tensor's size "
                f"at dimension {axis}), but got split_sizes={sizes}"
            )
    out, start = [], 0
    for s in sizes:
        out.append(narrow(tensor, axis, start, s))
        start += s
    return tuple(out)


def chunk(input, chunks, dim=0):
    if chunks <= 0:
        raise RuntimeError("chunk expects `chunks` to be greater than 0, got: " + str(chunks))
    n = input.shape[norm_dim(dim, input.ndim)]
    step = -(-n // chunks) if n else 1
    return split(input, step, dim)


def narrow(input, dim, start, length):
    axis = norm_dim(dim, input.ndim)
    key = (slice(None),) * axis + (slice(start, start + length),)
    return S.GetItem.apply(input, key=key)


def flip(input, dims):
    return S.Flip.apply(input, axes=norm_dims(dims, input.ndim))
