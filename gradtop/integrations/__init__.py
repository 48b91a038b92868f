"""Adapters that plug ``gradtop.Logger`` into training frameworks.

Each submodule imports its framework when it is imported, never before, so
``import gradtop`` (and ``import gradtop.integrations``) works without Lightning,
Transformers or Accelerate installed:

* ``gradtop.integrations.lightning.GradtopCallback``: a Lightning ``Callback``;
* ``gradtop.integrations.hf.GradtopCallback``: a Transformers ``TrainerCallback``.

Accelerate needs no adapter: a plain loop calls ``Logger.log`` after
``accelerator.backward`` (see docs/distributed.md and examples/accelerate_loop.py).
"""

from __future__ import annotations
