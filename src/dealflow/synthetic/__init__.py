"""Synthetic CRM data with known answers: ``generate(store, deals=N, seed=S)``."""
from dealflow.synthetic.generator import GenerateResult, generate

__all__ = ["GenerateResult", "generate"]
