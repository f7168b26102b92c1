"""The Decorruptor image editor: DPM teacher and CM student pipelines on diffusers."""

from image_core.editor.autoencoder import PatchAutoencoder
from image_core.editor.common import INSTRUCTION, EditorOutput, guidance_embedding, image_guidance_schedule
from image_core.editor.loading import load_editor
from image_core.editor.pipeline_cm import DecorruptorCMPipeline
from image_core.editor.pipeline_dpm import DecorruptorDPMPipeline
from image_core.editor.tone import ToneCorrector

__all__ = [
    "INSTRUCTION",
    "DecorruptorCMPipeline",
    "DecorruptorDPMPipeline",
    "EditorOutput",
    "PatchAutoencoder",
    "ToneCorrector",
    "guidance_embedding",
    "image_guidance_schedule",
    "load_editor",
]
