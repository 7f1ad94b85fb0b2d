/// Vigil's release, as `vigil version`, GetVersion and the metrics' build info say it.
public enum VigilVersion {
    public static let string = "0.10.0"
}
