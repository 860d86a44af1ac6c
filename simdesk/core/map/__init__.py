"""The cluster map: layout (PCA + t-SNE), its cache in the library, and rendering to PNG."""
