"""`fedkd-faces`: one centralised LR face-distillation experiment (teacher, student by a method and
schedule, the face protocols), built from the toolkit in fedkd/faces and the models in fedkd/models."""
