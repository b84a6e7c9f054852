"""Training: losses, optimizers, ridge/RLS readouts, BPTT."""
