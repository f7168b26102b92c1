"""Measuring: the video corruptions, UCF-101 / UCF-101C (datasets, clip sampling, the builder),
fine-tuning a classifier on UCF-101, the evaluation of classifiers with and without restoration,
and quality metrics. Imports ``recognition``, ``restore`` and ``io`` below it."""
