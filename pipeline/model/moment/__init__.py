"""The moment model: trained on gold.fct_cart_moments, evaluated honestly, and decided on.

One module per job: `data` reads the rows of the time split, `metrics` scores probabilities
(bootstrap intervals by session, Brier skill, reliability), `calibrate` fits Platt scaling,
`profit` turns probabilities into the decision rule's money, `evaluation` puts the model beside
its baselines and ablation, `train` writes the registry version, `card` and `report` say what
the numbers mean, `scoring` computes the calibrated probability in SQL, `bqml` renders the
BigQuery ML templates. The contract itself is pipeline/serving/moment.py (the API's too).
"""
