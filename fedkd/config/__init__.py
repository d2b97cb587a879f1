"""Config machinery shared by every command: settings fields with rules, checks, composition, registries.

It knows no component: components declare their settings with `fedkd.config.fields` and their options in
a `fedkd.config.registry.Registry`; each experiment's `ExperimentSchema` ties them to its YAML root."""
