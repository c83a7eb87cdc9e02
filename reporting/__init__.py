"""The report on a run tree; report.py at the top level is its entry point (python report.py TREE).

  tree.py    reads the run tree: which runs exist and finished, their settings and commits
  stats.py   the numbers: pure functions on arrays (means, AUBC, paired t-intervals, AUROC, Fig. 3)
  tables.py  the text: markdown tables, CSV, the summary report.py prints
  pool.py    the initial model's pool: informativeness (Fig. 3), AUROC, examples (Fig. 1)
  plots.py   the figures (Figs. 1, 3, 4)
"""
