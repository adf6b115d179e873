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

BACKWARD_MODES = ("loop", "vmap")


def objectives_and_gradients(
    backend: str,
    token_logprobs: Callable,
    embs,
    weights,
    *,
    gradients: bool,
    backward_mode: str = "loop",
) -> tuple[np.ndarray, np.ndarray | None]:
  """Objectives <float32>[B, M] and, if `gradients`, <float32>[M, B, T, H].

  `token_logprobs(embs)` is the framework's forward pass: <float32>[B, K]
  log-probabilities of the target tokens; `weights` [B, M, K] weigh them per
  mask; `embs` [B, T, H] and `weights` are tensors of `backend`.
  `backward_mode="vmap"` (PyTorch only) replaces the loop over masks with one
  vmapped backward pass: within noise on CPUs, but more memory.
  """
  if backend == "torch":
    return _torch(token_logprobs, embs, weights, gradients, backward_mode)
  if backend == "tensorflow":
    return _tensorflow(token_logprobs, embs, weights, gradients)
  if backend == "jax":
    return _jax(token_logprobs, embs, weights, gradients)
  raise ValueError(f"Backend {backend!r} is not supported for salience; use torch,"
                   " tensorflow or jax.")


def _torch(token_logprobs, embs, weights, gradients, backward_mode):
  import torch  # pylint: disable=g-import-not-at-top

  def objectives(e):
    return torch.einsum("bk,bmk->bm", token_logprobs(e), weights)

  if not gradients:
    with torch.no_grad():
      return objectives(embs).float().cpu().numpy(), None
  embs = embs.detach().requires_grad_(True)
  with torch.enable_grad():
    out = objectives(embs)
    num_masks = out.shape[1]
    if backward_mode == "vmap" and num_masks > 1:
      eye = torch.eye(num_masks, dtype=out.dtype, device=out.device)
      grad_outputs = eye.unsqueeze(1).expand(num_masks, *out.shape)
      (grads,) = torch.autograd.grad(out, embs, grad_outputs=grad_outputs, is_grads_batched=True)
    else:
      grads = torch.stack([
          torch.autograd.grad(out[:, m].sum(), embs, retain_graph=m < num_masks - 1)[0]
          for m in range(num_masks)])
  return out.detach().float().cpu().numpy(), grads.float().cpu().numpy()


def _tensorflow(token_logprobs, embs, weights, gradients):
  import tensorflow as tf  # pylint: disable=g-import-not-at-top

  def objectives(e):
    return tf.einsum("bk,bmk->bm", token_logprobs(e), weights)

  if not gradients:
    return tf.cast(objectives(embs), tf.float32).numpy(), None
  embs = tf.convert_to_tensor(embs)
  num_masks = int(weights.shape[1])
  with tf.GradientTape(persistent=num_masks > 1, watch_accessed_variables=False) as tape:
    tape.watch(embs)
    out = objectives(embs)
    per_mask = [tf.reduce_sum(out[:, m]) for m in range(num_masks)]
  grads = [tf.cast(tape.gradient(o, embs), tf.float32).numpy() for o in per_mask]
  del tape
  return tf.cast(out, tf.float32).numpy(), np.stack(grads)


def _jax(token_logprobs, embs, weights, gradients):
  import jax  # pylint: disable=g-import-not-at-top
  import jax.numpy as jnp  # pylint: disable=g-import-not-at-top

  def objectives(e):
    return jnp.einsum("bk,bmk->bm", token_logprobs(e), weights)

  if not gradients:
    return np.asarray(objectives(embs), dtype=np.float32), None
  out, vjp = jax.vjp(objectives, embs)
  grads = [np.asarray(vjp(jnp.zeros_like(out).at[:, m].set(1.0))[0], dtype=np.float32)
           for m in range(out.shape[1])]
  return np.asarray(out, dtype=np.float32), np.stack(grads)
