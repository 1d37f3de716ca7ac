"""Batch scoring on Ray Data: an actor pool scores pairs exactly as the in-process engine does."""

from __future__ import annotations

import numpy as np
import pytest

from rag_core.engines import create_engine
from rag_core.engines._ray_data import score_pairs_ray

pytestmark = pytest.mark.slow


def test_ray_data_scores_equal_the_in_process_engine(ray_session, tiny_model_dir):
    pairs = [(f"query {i % 7}", f"passage number {i} about topic {i % 5} " * (1 + i % 3)) for i in range(60)]
    local = create_engine(str(tiny_model_dir), backend="torch", precision="float32", device="cpu").score(pairs).logits
    remote = score_pairs_ray(
        str(tiny_model_dir),
        pairs,
        actors=2,
        cpus_per_actor=0.5,
        batch_size=16,
        engine_options={"backend": "torch", "precision": "float32"},
    )
    assert remote.shape == (60,)
    np.testing.assert_allclose(remote, local, atol=1e-5)
