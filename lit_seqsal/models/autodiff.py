"""The objective and its per-mask gradients, once per autodiff runtime.

Both engines (Transformers on PyTorch; Keras on TensorFlow, PyTorch or JAX)
implement `LMEngine._objectives` by handing a forward function to
`objectives_and_gradients`: the objective of mask m is the weighted sum of the
target tokens' log-probabilities, one forward pass serves every mask, and the
backward pass runs once per mask over the kept graph. Rows of a batch are
independent, so the gradient of a mask's objective summed over rows gives each
row its own gradient.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from lit_seqsal.engine import Objectives

BACKWARD_MODES = ("loop", "vmap")


def objectives_and_gradients(
    backend: str,
    forward: Callable,
    embs,
    weights,
    *,
    gradients: bool,
    backward_mode: str = "loop",
) -> Objectives:
  """Objectives <float32>[B, M] and, if `gradients`, <float32>[M, B, T, H].

  `forward(embs)` is the framework's forward pass: <float32>[B, K]
  log-probabilities of the target tokens, and a tuple of auxiliary outputs that
  are not differentiated (the top next tokens at the target positions, when
  asked for: log-probabilities and ids, each [B, K, k]); `weights` [B, M, K]
  weigh the target tokens per mask; `embs` [B, T, H] and `weights` are tensors
  of `backend`. `backward_mode="vmap"` (PyTorch only) replaces the loop over
  masks with one vmapped backward pass: within noise on CPUs, but more memory.
  """
  if backend == "torch":
    values, grads, aux = _torch(forward, embs, weights, gradients, backward_mode)
  elif backend == "tensorflow":
    values, grads, aux = _tensorflow(forward, embs, weights, gradients)
  elif backend == "jax":
    values, grads, aux = _jax(forward, embs, weights, gradients)
  else:
    raise ValueError(f"Backend {backend!r} is not supported for salience; use torch,"
                     " tensorflow or jax.")
  top_logprobs, top_ids = aux if aux else (None, None)
  return Objectives(values, grads, top_logprobs, top_ids)


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


def _torch(forward, embs, weights, gradients, backward_mode):
  import torch  # pylint: disable=g-import-not-at-top

  def numpy(aux):
    return tuple(a.detach().float().cpu().numpy() if a.is_floating_point()
                 else a.cpu().numpy() for a in aux)

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
      grads = torch.stack([
          torch.autograd.grad(out[:, m].sum(), embs, retain_graph=m < num_masks - 1)[0]
          for m in range(num_masks)])
  return out.detach().float().cpu().numpy(), grads.float().cpu().numpy(), numpy(aux)


def _tensorflow(forward, embs, weights, gradients):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def numpy(aux):
    return tuple(a.numpy() for a in aux)

  if not gradients:
    token_lp, aux = forward(embs)
    return tf.einsum("bk,bmk->bm", token_lp, weights).numpy(), None, numpy(aux)
  embs = tf.convert_to_tensor(embs)
  num_masks = int(weights.shape[1])
  with tf.GradientTape(persistent=num_masks > 1, watch_accessed_variables=False) as tape:
    tape.watch(embs)
    token_lp, aux = forward(embs)
    out = tf.einsum("bk,bmk->bm", token_lp, weights)
    per_mask = [tf.reduce_sum(out[:, m]) for m in range(num_masks)]
  grads = [tf.cast(tape.gradient(o, embs), tf.float32).numpy() for o in per_mask]
  del tape
  return out.numpy(), np.stack(grads), numpy(aux)


def _jax(forward, embs, weights, gradients):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  def objectives(e):
    token_lp, aux = forward(e)
    return jnp.einsum("bk,bmk->bm", token_lp, weights), aux

  def numpy(aux):
    return tuple(np.asarray(a) for a in aux)

  if not gradients:
    out, aux = objectives(embs)
    return np.asarray(out, dtype=np.float32), None, numpy(aux)
  out, vjp, aux = jax.vjp(objectives, embs, has_aux=True)
  grads = [np.asarray(vjp(jnp.zeros_like(out).at[:, m].set(1.0))[0], dtype=np.float32)
           for m in range(out.shape[1])]
  return np.asarray(out, dtype=np.float32), np.stack(grads), numpy(aux)
