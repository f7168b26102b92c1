"""Recognising actions: torchvision video classifiers with their preprocessing, the embedded
TinyActionNet and the synthetic clips it learns from, and TENT.
Imports ``restore`` and ``io`` below it."""
