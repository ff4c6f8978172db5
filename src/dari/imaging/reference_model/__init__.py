"""dari's reference imaging model: its ONNX graph builder and, in `data/`, the trained model, spec and card."""
