"""Recipes: one module per workflow, each a short script over a run session (train/session.py).

    task_run   anchor points -> a fine-tuned run folder (train, demo, a studio job)
    adapt      raw documents -> a domain-adapted run folder (continued pretraining)
    plan       a data file -> the learning curve and what more data would buy
    evaluate   a finished run -> base against tuned on held-out points (eval), or side by side (compare)
    export     a finished run -> merged safetensors, GGUF or Ollama, with the parity gate
    check      a data file -> the quality gate's report, its HTML and the cleaned set
    launched   the entry a process started elsewhere runs (a torch.distributed.run worker, a Ray job)

They sit between the application layer (app/: the studio's resources, the shells' one entry) and the domain
packages, which never import or launch them (.importlinter, tests/test_import_contract.py).
"""
