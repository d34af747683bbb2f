"""Developer tooling, not shipped in the extension zip: build and validate the extension with Blender's own
command line (`extension_build`), install it into a throw-away Blender user folder the way users do
(`blender_install`), render an independent Cycles depth pass (`cycles_depth`), and build small Blender
scenes (`blender_scenes`). Tests, benchmarks and examples import it as `parascale.tools`; product code
never does."""
