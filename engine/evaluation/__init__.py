"""How well the app does, measured: the verification protocol (LFW pairs, k folds, VAL at a
false-accept rate) and clustering quality (pairwise precision and recall, purity).  Above the
face pipeline and below training, which reports with it; the one evaluation that needs a
library (scan a labelled folder, score its groups) is engine/library/jobs/cluster_eval.py."""
