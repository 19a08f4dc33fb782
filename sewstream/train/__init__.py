"""Training-side code: vocabulary, synthetic TTS corpus, augmentation."""
