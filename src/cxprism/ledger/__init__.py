"""The trust ledger: a tamper-evident Merkle log per workspace, signed checkpoints, proofs."""
