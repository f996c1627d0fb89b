"""Shape ops: views where NumPy gives views (reshape, permute, expand), copies otherwise."""

from __future__ import annotations

from ..autograd import Function
from ..backend import scatter_add, xp_of


class Reshape(Function):
    """reshape/view/flatten/unflatten: a view when the layout allows it."""

    grad_name = "ViewBackward0"

    def forward(self, a, shape):
        self.in_shape = a.shape
        return a.reshape(shape)

    def backward(self, g):
        return g.reshape(self.in_shape)


class Unsqueeze(Reshape):
    grad_name = "UnsqueezeBackward0"


class Squeeze(Reshape):
    grad_name = "SqueezeBackward0"


class SqueezeDim(Reshape):
    grad_name = "SqueezeBackward1"


class Permute(Function):
    def forward(self, a, axes):
        self.axes = axes
        return a.transpose(axes)

    def backward(self, g):
        inverse = [0] * len(self.axes)
        for i, ax in enumerate(self.axes):
            inverse[ax] = i
        return g.transpose(inverse)


class Transpose(Permute):
    grad_name = "TransposeBackward0"


class T(Permute):
    grad_name = "TBackward0"


class Expand(Function):
    """A broadcast view; the engine sums the gradient back to the input's shape."""

    def forward(self, a, shape):
        return xp_of(a).broadcast_to(a, shape)

    def backward(self, g):
        return g


class Repeat(Function):
    def forward(self, a, reps):
        self.in_shape = (1,) * (len(reps) - a.ndim) + a.shape
        self.reps = reps
        return xp_of(a).tile(a, reps)

    def backward(self, g):
        # (r0*s0, r1*s1, ...) -> (r0, s0, r1, s1, ...), then sum the r axes
        split = []
        for r, s in zip(self.reps, self.in_shape):
            split += [r, s]
        g = g.reshape(split).sum(axis=tuple(range(0, len(split), 2)))
        return g


class Cat(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        self.sizes = [a.shape[axis] for a in arrays]
        return xp_of(arrays[0]).concatenate(arrays, axis=axis)

    def backward(self, g):
        out, start = [], 0
        index = [slice(None)] * g.ndim
        for n in self.sizes:
            index[self.axis] = slice(start, start + n)
            out.append(g[tuple(index)])
            start += n
        return tuple(out)


class Stack(Function):
    def forward(self, *arrays, axis=0):
        self.axis = axis
        return xp_of(arrays[0]).stack(arrays, axis=axis)

    def backward(self, g):
        xp = xp_of(g)
        return tuple(xp.take(g, i, axis=self.axis) for i in range(g.shape[self.axis]))


class Flip(Function):
    def forward(self, a, axes):
        self.axes = axes
        return xp_of(a).flip(a, axes)

    def backward(self, g):
        return xp_of(g).flip(g, self.axes)


class GetItem(Function):
    """Indexing. Basic indexing returns a view; integer-array indexing gathers, and its backward
    accumulates repeated indices (scatter-add)."""

    def name(self):
        # PyTorch names the node after the last indexing step it applied
        if self.__dict__.get("advanced") or any(
            getattr(k, "ndim", None) is not None for k in self.__dict__.get("key", ())
        ):
            return "IndexBackward0"
        for k in reversed(self.__dict__.get("key", ())):
            if k is None:
                return "UnsqueezeBackward0"
            if isinstance(k, int):
                return "SelectBackward0"
            if isinstance(k, slice) and k != slice(None):
                return "SliceBackward0"
        return "AliasBackward0" if "key" in self.__dict__ else "SliceBackward0"

    def forward(self, a, key, advanced=False):
        self.shape, self.key, self.advanced, self.dtype = a.shape, key, advanced, a.dtype
        return a[key]

    def backward(self, g):
        out = xp_of(g).zeros(self.shape, dtype=g.dtype)
        if self.advanced:
            scatter_add(out, self.key, g)
        else:
            out[self.key] = g
        return out


class IndexPut(Function):
    """``t[key] = value`` recorded as an out-of-place op (the tensor is rebound to the result)."""

    grad_name = "CopySlices"

    def forward(self, a, value, key):
        out = a.copy()
        out[key] = value
        self.key = key
        self.value_shape = getattr(value, "shape", ())
        return out

    def backward(self, g):
        ga = g.copy()
        ga[self.key] = 0
        gv = g[self.key]
        return ga, gv


class Contiguous(Function):
    grad_name = "CloneBackward0"

    def forward(self, a):
        return xp_of(a).ascontiguousarray(a)

    def backward(self, g):
        return g
