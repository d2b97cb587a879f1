"""Low-resolution face recognition: HR teacher, tiny LR students, distillation schedules, protocols."""
