"""The ParaScale tab of the 3D viewport sidebar (N panel)."""

from __future__ import annotations

import bpy


class SidebarPanel:
    """Where every ParaScale panel lives: the 3D viewport sidebar (N panel), tab "ParaScale"."""

    bl_space_type = "VIEW_3D"
    bl_region_type = "UI"
    bl_category = "ParaScale"


class VIEW3D_PT_parascale(SidebarPanel, bpy.types.Panel):
    bl_label = "ParaScale"
    bl_idname = "VIEW3D_PT_parascale"

    def draw(self, context: bpy.types.Context) -> None:
        layout = self.layout
        layout.use_property_split = True
        layout.use_property_decorate = False
        settings = context.scene.parascale

        box = layout.box()
        box.label(text="Reference", icon="CAMERA_DATA")
        box.prop(settings, "reference_camera")
        box.prop(settings, "reference_source")
        if settings.reference_source in {"GEOMETRY", "BOUNDS"}:
            box.prop(settings, "reference_collection", text="Collection")
        elif settings.reference_source == "FIXED":
            box.prop(settings, "reference_depth", text="Depth")
        elif settings.reference_source == "IMPORTED":
            camera = settings.reference_camera
            has_depth = camera is not None and camera.get("parascale_imported_depth") is not None
            box.label(text="Depth imported with the poses" if has_depth else
                      "No imported depth: Import Camera Poses with a Depth file", icon="INFO" if has_depth else "ERROR")
        # TRACKING: the clip, tracking object and bundle counts are in the Tracking Reference sub-panel.

        box = layout.box()
        box.label(text="Target", icon="OUTLINER_OB_CAMERA")
        row = box.row()
        row.prop(settings, "target_start")
        if settings.target_start is None and context.scene.camera is not None:
            box.label(text=f"Scene camera: {context.scene.camera.name}", icon="INFO")
        box.prop(settings, "target_source")
        if settings.target_source in {"GEOMETRY", "BOUNDS"}:
            box.prop(settings, "target_collection", text="Collection")
        elif settings.target_source == "FIXED":
            box.prop(settings, "target_depth", text="Depth")

        col = layout.column()
        col.prop(settings, "mode")
        col.prop(settings, "strength")
        col.prop(settings, "depth_statistic")
        col.prop(settings, "use_scene_range")
        if not settings.use_scene_range:
            sub = col.column(align=True)
            sub.prop(settings, "frame_start")
            sub.prop(settings, "frame_end")
        if "GEOMETRY" in {settings.reference_source, settings.target_source}:
            col.prop(settings, "geometry_resolution")
        col.prop(settings, "show_overlay")

        box = layout.box()
        box.prop(settings, "keep_subject_framed")
        if settings.keep_subject_framed:
            box.prop(settings, "reference_subject")
            box.prop(settings, "target_subject")
            if settings.target_subject is None:
                box.label(text="Target subject: found by depth along the start view", icon="INFO")

        layout.operator("parascale.transfer_camera_move", icon="CON_CAMERASOLVER")
        row = layout.row(align=True)
        row.operator("parascale.export_poses", icon="EXPORT")
        row.operator("parascale.import_poses", icon="IMPORT")


CLASSES = (VIEW3D_PT_parascale,)


register, unregister = bpy.utils.register_classes_factory(CLASSES)
