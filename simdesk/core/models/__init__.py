"""Models: the catalogue of installed models, downloads, checkpoint reading and conversion to ONNX."""
