"""The controller manager: node lifecycle now; rescheduling, ContainerSets and backups later."""
