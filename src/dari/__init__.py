"""dari (다리): carries medical AI from hospital data to routine clinical use."""

__version__ = "0.1.0"
