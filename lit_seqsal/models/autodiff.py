"""The objective and its per-mask gradients, once per autodiff runtime.

Both engines (Transformers on PyTorch; Keras on TensorFlow, PyTorch or JAX)
implement `LMEngine._objectives` by handing a forward function to
`objectives_and_gradients`: the objective of mask m is the weighted sum of the
target tokens' log-probabilities, one forward pass serves every mask, and the
backward pass runs once per mask over the kept graph. Rows of a batch are
independent, so the gradient of a mask's objective summed over rows gives each
row its own gradient.

On TensorFlow and JAX the same computation also runs compiled (`Compiled`:
XLA through tf.function(jit_compile=True) or jax.jit), one program per input
shape; the Keras engine pads inputs to a few shape buckets so that programs
are reused (lit_seqsal/models/keras_engine.py).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import cast

import numpy as np

from lit_seqsal.engine.base import Objectives

BACKWARD_MODES = ("loop", "vmap")
# Runtimes whose objectives can be compiled (`Compiled`).
COMPILABLE = ("tensorflow", "jax")
# Compiled on JAX, the backward passes of all masks run as one batched pass
# while masks x rows x tokens stays within this (memory grows with it), else
# one after the other in a loop.
VMAP_TOKENS = 8192


def objectives_and_gradients(
  backend: str, forward: Callable, embs, weights, *, gradients: bool, backward_mode: str = "loop"
) -> Objectives:
  """Objectives <float32>[B, M] and, if `gradients`, <float32>[M, B, T, H].

  `forward(embs)` is the framework's forward pass: <float32>[B, K]
  log-probabilities of the target tokens, and a tuple of auxiliary outputs that
  are not differentiated (the top next tokens at the target positions, when
  asked for: log-probabilities and ids, each [B, K, k]); `weights` [B, M, K]
  weigh the target tokens per mask; `embs` [B, T, H] and `weights` are tensors
  of `backend`. `backward_mode="vmap"` (PyTorch only) replaces the loop over
  masks with one vmapped backward pass: within noise on CPUs, but more memory.
  Runs eagerly (op by op); see `Compiled` for the compiled form.
  """
  if backend == "torch":
    values, grads, aux = _torch(forward, embs, weights, gradients, backward_mode)
  elif backend in _CORES:
    values, grads, aux = _numpy(_CORES[backend](forward, embs, weights, gradients))
  else:
    raise ValueError(
      f"Backend {backend!r} is not supported for salience; use torch, tensorflow or jax."
    )
  return _objectives(values, grads, aux)


class Compiled:
  """`objectives_and_gradients` compiled by XLA, on TensorFlow or JAX.

  `target_logprobs(state, embs, *inputs[, top_k])` is the engine's forward pass
  (as for `with_aux`), with `state` the model's weights as arguments where the
  runtime needs them (JAX: jax.jit must not bake 270M weights into the program
  as constants; TensorFlow reads its variables and gets state=None). Each call
  `compiled(state, embs, weights, num_masks, inputs, gradients=, top_k=)` runs
  the program for its input shapes, compiled at the first call with those
  shapes and (gradients, top_k); `traces` counts those compilations. Masks from
  `num_masks` on in `weights` are padding (all-zero weights, so zero
  gradients): a backward loop skips them; JAX's batched backward pass for a
  few masks computes them too, which is still faster than the loop.
  """

  def __init__(self, backend: str, target_logprobs: Callable):
    if backend not in COMPILABLE:
      raise ValueError(f"Compiled objectives run on {' or '.join(COMPILABLE)}, not {backend!r}.")
    self.backend = backend
    self.target_logprobs = target_logprobs
    self.traces = 0
    self._programs: dict[tuple, Callable] = {}

  def __call__(
    self, state, embs, weights, num_masks: int, inputs: Sequence, *, gradients: bool, top_k: int = 0
  ) -> Objectives:
    # One program per shapes (a tf.function retraced for each new shape would
    # warn about "expensive retracing", which here is the design).
    key = (gradients, top_k, tuple(tuple(a.shape) for a in (embs, weights, *inputs)))
    if key not in self._programs:
      self._programs[key] = self._compile(gradients, top_k)
    return _objectives(*_numpy(self._programs[key](state, embs, weights, num_masks, *inputs)))

  def _compile(self, gradients: bool, top_k: int) -> Callable:
    core = _CORES[self.backend]

    def program(state, embs, weights, num_masks, *inputs):
      self.traces += 1  # Python runs only while the runtime traces a new program
      forward = with_aux(functools.partial(self.target_logprobs, state), *inputs, top_k)
      return core(forward, embs, weights, gradients, num_masks)

    if self.backend == "jax":
      import jax
      import jax.numpy as jnp

      jitted = jax.jit(program)
      return lambda state, embs, weights, num_masks, *inputs: jitted(
        state, embs, weights, jnp.asarray(num_masks, jnp.int32), *inputs
      )
    import tensorflow as tf

    compiled = tf.function(lambda *args: program(None, *args), jit_compile=True)
    # num_masks as a tensor: a Python int would be part of the program's key.
    return lambda state, embs, weights, num_masks, *inputs: compiled(
      embs, weights, tf.constant(num_masks, tf.int32), *inputs
    )


def with_aux(target_logprobs: Callable, *args) -> Callable:
  """The forward function for objectives_and_gradients from an engine's
  target_logprobs(embs, ..., top_k): (token log-probabilities, auxiliary outputs)."""
  *inputs, top_k = args

  def forward(embs):
    if not top_k:
      return target_logprobs(embs, *inputs), ()
    token_lp, *aux = target_logprobs(embs, *inputs, top_k)
    return token_lp, tuple(aux)

  return forward


def _objectives(values, grads, aux) -> Objectives:
  top_logprobs, top_ids = aux if aux else (None, None)
  return Objectives(values, grads, top_logprobs, top_ids)


def _numpy(result):
  """(values, grads, aux) of TensorFlow or JAX tensors as numpy arrays."""
  values, grads, aux = result
  return (
    np.asarray(values, dtype=np.float32),
    None if grads is None else np.asarray(grads, dtype=np.float32),
    tuple(np.asarray(a) for a in aux),
  )


def _torch(forward, embs, weights, gradients, backward_mode):
  import torch

  def numpy(aux):
    return tuple(
      a.detach().float().cpu().numpy() if a.is_floating_point() else a.cpu().numpy() for a in aux
    )

  if not gradients:
    with torch.no_grad():
      token_lp, aux = forward(embs)
      values = torch.einsum("bk,bmk->bm", token_lp, weights)
      return values.float().cpu().numpy(), None, numpy(aux)
  embs = embs.detach().requires_grad_(True)
  with torch.enable_grad():
    token_lp, aux = forward(embs)
    out = torch.einsum("bk,bmk->bm", token_lp, weights)
    num_masks = out.shape[1]
    if backward_mode == "vmap" and num_masks > 1:
      eye = torch.eye(num_masks, dtype=out.dtype, device=out.device)
      grad_outputs = eye.unsqueeze(1).expand(num_masks, *out.shape)
      (grads,) = torch.autograd.grad(out, embs, grad_outputs=grad_outputs, is_grads_batched=True)
    else:
      grads = torch.stack(
        [
          torch.autograd.grad(out[:, m].sum(), embs, retain_graph=m < num_masks - 1)[0]
          for m in range(num_masks)
        ]
      )
  return out.detach().float().cpu().numpy(), grads.float().cpu().numpy(), numpy(aux)


# TensorFlow and JAX: (forward, embs, weights, gradients, num_masks=None) ->
# (values [B, M], grads <float32>[M, B, T, H] or None, aux) as tensors, eagerly
# or inside a compiled program. Eagerly (num_masks None) the backward passes
# run as a Python loop over the masks. Compiled, one mask gets a plain backward
# pass; several get a loop in the program over the first num_masks masks (a
# traced scalar), the rest left zero, or on JAX while small enough
# (VMAP_TOKENS) one batched backward pass over all of them.


def _tensorflow(forward, embs, weights, gradients, num_masks=None):
  import tensorflow as tf

  if not gradients:
    token_lp, aux = forward(embs)
    return tf.einsum("bk,bmk->bm", token_lp, weights), None, aux
  embs = tf.convert_to_tensor(embs)
  with tf.GradientTape(persistent=True, watch_accessed_variables=False) as tape:
    tape.watch(embs)
    token_lp, aux = forward(embs)
    out = tf.einsum("bk,bmk->bm", token_lp, weights)
  total_masks = out.shape[1]

  def grad(m):  # of mask m's objective summed over rows
    cotangent = tf.broadcast_to(tf.one_hot(m, total_masks, dtype=out.dtype), tf.shape(out))
    grad_m = tape.gradient(out, embs, output_gradients=cotangent)
    # TensorFlow types gradient() for any structure of sources (IndexedSlices
    # included); for one dense source, as here, it is a dense tensor.
    return tf.cast(cast(tf.Tensor, grad_m), tf.float32)

  if num_masks is None or total_masks == 1:
    # One mask: a plain backward pass (a loop in the program would cost 2x).
    grads = tf.stack([grad(m) for m in range(total_masks)])
  else:
    grads = tf.zeros((total_masks, *embs.shape), tf.float32)
    _, grads = tf.while_loop(
      lambda m, _: m < num_masks,
      lambda m, g: (m + 1, tf.tensor_scatter_nd_update(g, [[m]], grad(m)[None])),
      (tf.constant(0), grads),
    )
  return out, grads, aux


def _jax(forward, embs, weights, gradients, num_masks=None):
  import jax
  import jax.numpy as jnp

  def objectives(e):
    token_lp, aux = forward(e)
    return jnp.einsum("bk,bmk->bm", token_lp, weights), aux

  if not gradients:
    out, aux = objectives(embs)
    return out, None, aux
  out, vjp, aux = jax.vjp(objectives, embs, has_aux=True)

  def grad(m):  # of mask m's objective summed over rows
    return vjp(jnp.zeros_like(out).at[:, m].set(1.0))[0].astype(jnp.float32)

  masks = out.shape[1]
  if num_masks is None or masks == 1:
    grads = jnp.stack([grad(m) for m in range(masks)])
  elif masks * embs.shape[0] * embs.shape[1] <= VMAP_TOKENS:
    # All masks in one batched backward pass: 1.7-2.3x faster than a loop in
    # the program (measured on the bundled model), for padded masks' work and
    # their activations' memory.
    cotangents = jnp.broadcast_to(jnp.eye(masks, dtype=out.dtype)[:, None, :], (masks, *out.shape))
    grads = jax.vmap(lambda c: vjp(c)[0].astype(jnp.float32))(cotangents)
  else:
    grads = jax.lax.fori_loop(
      0,
      num_masks,
      lambda m, g: g.at[m].set(grad(m)),
      jnp.zeros((out.shape[1], *embs.shape), jnp.float32),
    )
  return out, grads, aux


_CORES = {"tensorflow": _tensorflow, "jax": _jax}
