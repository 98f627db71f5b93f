"""The one application layer: every user action, for the command line and the HTTP routes alike.

Split by resource: datasets (read, check, upload, fix), runs (the workflows as the shells reach them: train,
evaluate, compare, export, adapt), plan (data plans of uploaded files), models (catalog, ids a studio serves), chat
(conversations, batch answers, the pool of loaded chat models), jobs (the studio's queue and the work its workers
do), tracking (the studio's tracking settings) and compare (runs side by side, a job's lineage, the runs trained on a
dataset). A studio's state (store, data folder, loaded models, background checks) is a `workspace.Workspace` the
functions that need it take first. Shells (cli/, api/) call these functions and nothing below them; these call the
recipes (recipes/: one module per workflow) and the domain packages. The import contract (.importlinter, checked
in `make test`) holds the layers: shells -> app -> recipes -> domain -> config, settings, errors.
"""
