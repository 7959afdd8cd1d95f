"""Test-wide settings."""
import torch

# Tests use tiny tensors, where a second intra-op thread only adds synchronisation (measured
# ~100x slower steps for a small MLP when the 2 cores are busy). Subprocess tests (kill/resume,
# end-to-end) run with torch's default threads.
torch.set_num_threads(1)
