"""Training objectives (SFT, DPO, KTO, ORPO): one module each behind one interface."""
