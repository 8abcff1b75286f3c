"""What every stage's A/B shares: paired comparisons, the JSON round trip, HTML pieces.

Each stage supplies its own A/B (arms, metrics, report) in ``ragdistill.stages.<stage>``.
"""
