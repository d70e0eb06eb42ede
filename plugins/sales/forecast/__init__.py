"""Forecasts (weighted pipeline, commit / best case / closed, against what closed) and
sales KPIs, computed in SQL within the viewer's grants."""
