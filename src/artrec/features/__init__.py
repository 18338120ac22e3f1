"""Feature extractors (CNNs, hand-engineered), the batched runner and the extraction API."""
