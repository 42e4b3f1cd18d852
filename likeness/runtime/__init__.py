"""Where models run: the process-wide model cache, ONNX execution (onnxruntime or torch), dlib."""
