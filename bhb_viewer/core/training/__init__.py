"""Training without torch: one training configuration (``train_config``), the checkpoints the app
knows (``model_index``) and the review → retrain loop the wizard follows (``retrain``)."""
