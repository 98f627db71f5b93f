"""The compute engine under training and evaluation: batches (collate), losses, precision, the fast parts and
the plan of which path each part takes (paths). Knows nothing of runs, data files or the Trainer."""
