"""Using a trained model: predict files, stream, serve over HTTP, export to ONNX (+ int8).

    from sier.inference import Recognizer
    rec = Recognizer.from_checkpoint("models/best_model_fold_1.pth")
    rec.predict(waveform)        # float32 mono 16 kHz -> Prediction(label, probs)

Submodules: recognizer, vad, predict, stream, server (needs fastapi), export (needs onnx).
"""

from sier.inference.recognizer import Prediction, Recognizer, load_recognizer

__all__ = ["Prediction", "Recognizer", "load_recognizer"]
