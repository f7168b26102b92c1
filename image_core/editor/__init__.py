"""The Decorruptor image editor: DPM teacher and CM student pipelines on diffusers.

One concern per module: ``settings`` (what an edit does), ``images`` (inputs and outputs),
``latents`` (latent maths, guidance), ``colour`` (the colour fix), ``estimates`` (what an image
needs), ``grid`` (grid shifts), ``base`` (what both pipelines share), ``pipeline_dpm`` /
``pipeline_cm``, ``loading``, ``tone``, ``autoencoder``.
"""

from image_core.editor.autoencoder import PatchAutoencoder
from image_core.editor.base import INSTRUCTION
from image_core.editor.images import EditorOutput
from image_core.editor.latents import guidance_embedding, image_guidance_schedule
from image_core.editor.loading import load_editor
from image_core.editor.pipeline_cm import DecorruptorCMPipeline
from image_core.editor.pipeline_dpm import DecorruptorDPMPipeline
from image_core.editor.settings import EditorSettings
from image_core.editor.tone import ToneCorrector

__all__ = [
    "INSTRUCTION",
    "DecorruptorCMPipeline",
    "DecorruptorDPMPipeline",
    "EditorOutput",
    "EditorSettings",
    "PatchAutoencoder",
    "ToneCorrector",
    "guidance_embedding",
    "image_guidance_schedule",
    "load_editor",
]
