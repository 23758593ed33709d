"""Cross-fitted nuisances, doubly robust scores, and CATE estimators with their selection."""
