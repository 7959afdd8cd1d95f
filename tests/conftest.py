"""Test-wide settings."""
import os

# scikit-learn's estimator checks run their array-API cases only with this set (before scipy loads).
os.environ.setdefault("SCIPY_ARRAY_API", "1")

import torch  # noqa: E402

# Tests use tiny tensors, where a second intra-op thread only adds synchronisation (measured
# ~100x slower steps for a small MLP when the 2 cores are busy). Subprocess tests (kill/resume,
# end-to-end) run with torch's default threads.
torch.set_num_threads(1)
