// The always-visible device badge: where the model runs (the GPU name or CPU; a model split over
// several devices lists them all, "cuda:0 + cuda:1 + CPU"), as a highlighted pill.
import QtQuick
import QtQuick.Controls

Rectangle {
    id: badge
    property alias text: label.text
    radius: height / 2
    color: palette.highlight
    implicitHeight: label.implicitHeight + Math.round(label.font.pixelSize * 0.5)
    implicitWidth: label.implicitWidth + Math.round(label.font.pixelSize * 1.4)
    Accessible.role: Accessible.StaticText
    Accessible.name: qsTr("Device: %1").arg(label.text)

    Label {
        id: label
        anchors.centerIn: parent
        color: palette.highlightedText
        font.bold: true
        Accessible.name: qsTr("Device: %1").arg(text)
    }
}
